"""The iptables mode's jump rules, ensured with one save and one restore, on the real tools.

``IptablesCommand.ensure_jumps`` reads each table with ``iptables-save`` and inserts what
is missing with one ``iptables-restore --noflush`` instead of an ``iptables -N``/``-C``/``-I``
process per jump (kube-proxy's way). These tests hold it to the same result as the
one-by-one calls, on Debian's ``iptables-nft`` and ``iptables-legacy`` tools alike, each
in a network namespace of its own (so the host's tables are never touched).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sliceplane.proxy import iptables as ipt
from sliceplane.proxy.backends import IptablesCommand
from sliceplane.proxy.modes import _quote
from sliceplane.testenv.netns import in_netns, unsupported_reason

MISSING = unsupported_reason() or ("" if shutil.which("iptables") else "iptables not installed")
pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING)

JUMPS = [(j[0], j[1], j[2], " ".join(_quote(ipt.jump_args(j)))) for j in ipt.JUMPS]
TOOLS = ("iptables", "iptables-save", "iptables-restore")


@pytest.fixture(params=["default", "legacy"])
def tools(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``iptables*`` on PATH: the system's (iptables-nft on Debian) or the legacy ones."""
    if request.param == "legacy":
        bindir = tmp_path / "legacy-bin"
        bindir.mkdir()
        for tool in TOOLS:
            target = shutil.which(tool.replace("tables", "tables-legacy", 1))
            if target is None:
                pytest.skip(f"{tool}-legacy not installed")
            (bindir / tool).symlink_to(target)
        monkeypatch.setenv("PATH", f"{bindir}:{os.environ.get('PATH', '')}")
    return str(request.param)


def _namespace(tag: str) -> Iterator[str]:
    name = f"sp-jumps-{os.getpid()}-{tag}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


@pytest.fixture
def ns(tools: str) -> Iterator[str]:
    yield from _namespace(f"a-{tools}")


@pytest.fixture
def ns_ref(tools: str) -> Iterator[str]:
    yield from _namespace(f"b-{tools}")


def _tables(ns: str) -> list[str]:
    """filter and nat as iptables-save prints them, without comments and counters."""

    def save() -> list[str]:
        out: list[str] = []
        for table in ("filter", "nat"):
            text = subprocess.run(
                ["iptables-save", "-t", table], capture_output=True, text=True, check=True
            ).stdout
            out.extend(ln for ln in text.splitlines() if not ln.startswith("#"))
        return out

    return in_netns(ns, save)


def _iptables(ns: str, *args: str) -> None:
    in_netns(ns, lambda: subprocess.run(["iptables", "-w", "5", *args], check=True))


def _one_by_one(ns: str) -> None:
    def run() -> None:
        b = IptablesCommand(4)
        for table, chain, src, rule in JUMPS:
            b.ensure_chain(table, chain)
            b.ensure_rule_first(table, src, rule)

    in_netns(ns, run)


def _ensure(ns: str, jumps: list[tuple[str, str, str, str]] = JUMPS) -> None:
    in_netns(ns, lambda: IptablesCommand(4).ensure_jumps(jumps))


def test_fresh_tables_get_what_the_one_by_one_calls_give(ns: str, ns_ref: str) -> None:
    _one_by_one(ns_ref)
    _ensure(ns)
    got = _tables(ns)
    assert got == _tables(ns_ref)
    assert sum(ln.startswith("-A ") for ln in got) == len(JUMPS)


def test_a_second_call_changes_nothing(ns: str) -> None:
    _iptables(ns, "-t", "filter", "-N", "KUBE-FORWARD")  # one of the chains already there
    _ensure(ns)
    first = _tables(ns)
    _ensure(ns)
    assert _tables(ns) == first


def test_a_deleted_jump_comes_back_first(ns: str, ns_ref: str) -> None:
    _ensure(ns)
    _iptables(
        ns, "-t", "filter", "-D", "FORWARD",
        "-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD",
    )  # fmt: skip
    _iptables(ns, "-t", "filter", "-I", "FORWARD", "1", "-j", "ACCEPT")
    _ensure(ns)
    forward = [ln for ln in _tables(ns) if ln.startswith("-A FORWARD ")]
    assert forward[0] == (
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'
    )
    assert forward[1] == "-A FORWARD -j ACCEPT"
    assert len(forward) == 1 + sum(1 for t, _, src, _ in JUMPS if (t, src) == ("filter", "FORWARD"))


def test_a_rule_saved_in_other_words_is_checked_before_it_is_added(ns: str) -> None:
    """The saved text need not spell a rule as we do (here: two spaces); ``-C`` decides."""
    odd = [
        (
            "filter",
            "KUBE-FORWARD",
            "FORWARD",
            '-m comment --comment "odd  spacing"  -j KUBE-FORWARD',
        )
    ]
    _ensure(ns, odd)
    _ensure(ns, odd)
    forward = [ln for ln in _tables(ns) if ln.startswith("-A FORWARD ")]
    assert forward == ['-A FORWARD -m comment --comment "odd  spacing" -j KUBE-FORWARD']
