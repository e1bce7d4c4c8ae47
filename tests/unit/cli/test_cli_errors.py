"""Every usage or configuration mistake is one line on stderr and exit 2, for every command.

These run the real entry point (``sliceplane.cli.main.main``) in-process with argv, so a
command registered by any module gets the same treatment without a test of its own."""

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
        pytest.param(["apiserver", "--bogus"], "No such option: --bogus", id="unknown-option"),
        pytest.param(["bogus"], "No such command 'bogus'", id="unknown-command"),
        pytest.param(["apiserver"], "Missing option '--data-dir'", id="missing-option"),
        pytest.param(
            ["apiserver", "--data-dir", "/nonexistent", "--history-window", "0"],
            "--history-window",
            id="bad-value",
        ),
        pytest.param(
            ["controller", "--kubeconfig", "/nonexistent/kubeconfig"],
            "kubeconfig /nonexistent/kubeconfig: no such file",
            id="missing-kubeconfig",
        ),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(argv, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert "Traceback" not in err and "╭" not in err


def test_unparsable_kubeconfig_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [\n")
    code, _, err = run(["controller", "--kubeconfig", str(bad)], capsys)
    assert code == 2
    assert err.startswith(f"error: kubeconfig {bad}: ")
    assert len(err.strip().splitlines()) == 1


def test_no_arguments_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([], capsys)
    assert code == 2
    assert "Usage: sliceplane" in out


def test_success_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["version"], capsys)
    assert code == 0
    assert out.strip()
