"""The client-side token bucket behind ``--kube-api-qps/--kube-api-burst``."""

from __future__ import annotations

import asyncio

import pytest

from sliceplane.client.throttle import DEFAULT_BURST, DEFAULT_QPS, Throttle, throttle_for


class Now:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_burst_is_free_then_requests_are_spaced_at_qps() -> None:
    now = Now()
    th = Throttle(10.0, 3, now)
    assert [th.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    # Reservations queue up behind each other: 0.1 s, 0.2 s, 0.3 s from now.
    assert [round(th.reserve(), 6) for _ in range(3)] == [0.1, 0.2, 0.3]
    assert th.waited == pytest.approx(0.6)


def test_tokens_refill_with_time_but_never_beyond_burst() -> None:
    now = Now()
    th = Throttle(10.0, 2, now)
    th.reserve()
    th.reserve()
    now.t += 0.1  # one token back
    assert th.reserve() == pytest.approx(0.0, abs=1e-9)
    assert th.reserve() == pytest.approx(0.1)
    now.t += 60  # idle for a minute: the bucket holds at most 2
    assert [th.reserve() for _ in range(2)] == [0.0, 0.0]
    assert th.reserve() == pytest.approx(0.1)


def test_clock_going_backwards_does_not_mint_tokens() -> None:
    now = Now()
    th = Throttle(1.0, 1, now)
    th.reserve()
    now.t -= 5
    assert th.reserve() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("qps", "burst", "expected"),
    [
        (-1.0, 0, None),  # negative: unlimited
        (0.0, 0, (DEFAULT_QPS, DEFAULT_BURST)),  # zero: kube-controller-manager's defaults
        (50.0, 0, (50.0, DEFAULT_BURST)),
        (5.0, 7, (5.0, 7)),
    ],
)
def test_throttle_for_flag_values(
    qps: float, burst: int, expected: tuple[float, int] | None
) -> None:
    th = throttle_for(qps, burst)
    assert (None if th is None else (th.qps, th.burst)) == expected


@pytest.mark.parametrize(("qps", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_invalid_buckets_are_refused(qps: float, burst: int) -> None:
    with pytest.raises(ValueError):
        Throttle(qps, burst)


def test_ready_takes_no_token_and_waits_behind_earlier_reservations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = Now()
    th = Throttle(10.0, 2, now)
    assert th.free_in() == 0.0
    th.reserve()
    assert th.free_in() == 0.0  # one token left: ready at once, and still one left
    assert th.reserve() == 0.0
    th.reserve()  # in debt: due 0.1 s from now
    assert th.free_in() == pytest.approx(0.2)  # that debt first, then a token of our own
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)
        now.t += delay / 2  # wakes early: ready() looks again

    monkeypatch.setattr("sliceplane.client.throttle.asyncio.sleep", sleep)
    waited = asyncio.run(th.ready())
    assert len(slept) > 1 and waited == pytest.approx(sum(slept))
    assert th.free_in() == 0.0
    assert th.reserve() == pytest.approx(0.0, abs=1e-6)  # the token it waited for
    assert th.reserve() == pytest.approx(0.1)
