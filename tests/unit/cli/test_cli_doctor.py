"""``sliceplane doctor`` usage and connection mistakes: one line on stderr, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from sliceplane.cli.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        pytest.param(["doctor", "service"], "Missing argument 'NAME'", id="missing-name"),
        pytest.param(["doctor", "service", "web", "--bogus"], "No such option: --bogus", id="flag"),
        pytest.param(["doctor", "service", "web", "-o", "yaml"], "must be text or json", id="-o"),
        pytest.param(["doctor", "namespace", "a", "-A"], "exclude each other", id="ns-and-A"),
        pytest.param(["doctor", "namespace", "a", "-n", "b"], "give the namespace once", id="ns2"),
        pytest.param(
            ["doctor", "service", "web", "--kubeconfig", "/nonexistent/kc"],
            "kubeconfig /nonexistent/kc: no such file",
            id="missing-kubeconfig",
        ),
    ],
)
def test_usage_errors(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert "Traceback" not in err and "╭" not in err


def test_unreachable_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    code, out, err = run(["doctor", "service", "web", "--kubeconfig", str(kubeconfig)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: cannot reach the API server") and len(err.splitlines()) == 1
