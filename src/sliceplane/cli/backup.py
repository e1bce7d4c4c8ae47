"""``sliceplane backup``: a consistent, checked copy of a data directory's state database.

Restore it with ``sliceplane apiserver --data-dir DIR --restore-from FILE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def backup_command(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="The data directory of the state to copy.")
    ],
    out: Annotated[Path, typer.Argument(help="The backup file to write.", show_default=False)],
) -> None:
    """Copy the state database (safe while the server runs) and check the copy."""
    from sliceplane.storage.backup import backup
    from sliceplane.storage.statefile import StateError

    try:
        typer.echo(backup(data_dir / "state.sqlite", out))
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: {out}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
