"""The shared HOST:PORT parser behind every listening flag."""

from __future__ import annotations

import pytest

from sliceplane.api.hostport import HostPortError, parse_hostport


@pytest.mark.parametrize(
    ("text", "default_host", "want"),
    [
        pytest.param("127.0.0.1:80", None, ("127.0.0.1", 80), id="ipv4"),
        pytest.param("[::1]:53", None, ("::1", 53), id="ipv6-brackets"),
        pytest.param("localhost:0", None, ("localhost", 0), id="localhost-port-0"),
        pytest.param(":10249", "0.0.0.0", ("0.0.0.0", 10249), id="empty-host-default"),
    ],
)
def test_parses(text: str, default_host: str | None, want: tuple[str, int]) -> None:
    assert parse_hostport(text, "--listen", default_host=default_host) == want


@pytest.mark.parametrize(
    ("text", "default_host", "message"),
    [
        pytest.param("nowhere", None, "--listen: 'nowhere' is not HOST:PORT", id="no-colon"),
        pytest.param(
            "1.2.3.4:99999", None, "--listen: '1.2.3.4:99999' is not HOST:PORT", id="range"
        ),
        pytest.param(
            "1.2.3.4:x", None, "--listen: '1.2.3.4:x' is not HOST:PORT", id="not-a-number"
        ),
        pytest.param(":80", None, "--listen: ':80' is not HOST:PORT", id="empty-host-no-default"),
        pytest.param(
            "example.com:80", "0.0.0.0", "--listen: 'example.com' is not an IP address", id="name"
        ),
    ],
)
def test_refuses(text: str, default_host: str | None, message: str) -> None:
    with pytest.raises(HostPortError) as err:
        parse_hostport(text, "--listen", default_host=default_host)
    assert str(err.value) == message


def test_raises_the_callers_error_type() -> None:
    class Mine(Exception):
        pass

    with pytest.raises(Mine, match="is not HOST:PORT"):
        parse_hostport("nowhere", "--flag", error=Mine)
