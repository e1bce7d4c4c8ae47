"""``sliceplane view`` mistakes: one line on stderr, exit 2, nothing served."""

from __future__ import annotations

from pathlib import Path

import pytest

from sliceplane.cli.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    _, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), err


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    return path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(
            ["--listen", "nonsense"], "--listen: 'nonsense' is not HOST:PORT", id="listen"
        ),
        pytest.param(["--listen", "127.0.0.1:99999"], "is not HOST:PORT", id="port-range"),
        pytest.param(["--bogus"], "No such option: --bogus", id="unknown-flag"),
        pytest.param(
            ["--kubeconfig", "/nonexistent/kubeconfig"], "no such file", id="missing-kubeconfig"
        ),
    ],
)
def test_view_usage_errors(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(["view", *args], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0]


def test_view_unreachable_api_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = unreachable_kubeconfig(tmp_path)
    code, err = run(["view", "--kubeconfig", str(kubeconfig), "--listen", "127.0.0.1:0"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the API server" in lines[0], err
