"""AGE cells: apimachinery's ``HumanDuration`` and ``ShortHumanDuration``.

Apart from the printers because kubectl users read these strings everywhere (AGE,
LAST SEEN, lease and event times) and upstream keeps them in ``duration.go``, one place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sliceplane.api.meta import parse_time


def _micros(d: timedelta) -> int:
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _whole_seconds(d: timedelta) -> int:
    """Seconds in ``d``, truncated toward zero (like Go's ``int(d.Seconds())``)."""
    us = _micros(d)
    return us // 1_000_000 if us >= 0 else -((-us) // 1_000_000)


def human_duration(d: timedelta) -> str:
    """Format ``d`` with two or three significant figures, as kubectl's AGE column does.

    Slightly negative durations (up to two seconds of clock skew) read as ``0s``; more
    negative ones as ``<invalid>``.
    """
    seconds = _whole_seconds(d)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 2 * 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d" if rest == 0 else f"{days}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{years}y"


def short_human_duration(d: timedelta) -> str:
    """One-unit variant of :func:`human_duration` (``59s``, ``1m``, ``23h``, ``1d``, ``2y``)."""
    seconds = _whole_seconds(d)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _since(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "<unknown>"
    return human_duration(_aware(now) - when)


def translate_timestamp_since(ts: str | None, now: datetime) -> str:
    """Elapsed time from RFC 3339 ``ts`` to ``now`` as an AGE cell (``<unknown>`` if unset)."""
    return _since(parse_time(ts), now)
