"""JQL date values: absolute literals, relative periods and the date functions.

JQL dates have minute precision: a literal names a minute, and the evaluator compares issue timestamps
truncated to the minute, so `updated >= "2024/01/15 10:30"` matches an issue updated at 10:30:59 while
`updated > "2024/01/15 10:30"` does not. Literals are read in UTC (the seed's users are all UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_PERIOD = re.compile(r"^\s*([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)$", re.IGNORECASE)
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])", re.IGNORECASE)
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
DATE_FUNCTIONS = frozenset({"now", "startofday", "endofday"})


def invalid_date_message(value: str, field: str) -> str:
    return (
        f"Date value '{value}' for field '{field}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
        "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )


def to_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def parse_absolute(text: str) -> datetime | None:
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    if text.isdigit() and len(text) >= 10:  # epoch milliseconds, which JQL also accepts
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return None


def parse_period(text: str) -> timedelta | None:
    """`-5m`, `-2h`, `-1d`, `-1w`, `4w 2d`: a signed offset from now (no sign means the future)."""
    match = _PERIOD.match(text)
    if match is None:
        return None
    total = sum(
        (int(n) * _UNITS[unit.lower()] for n, unit in _PERIOD_PART.findall(match.group(2))), timedelta()
    )
    return -total if match.group(1) == "-" else total


def is_valid_date(text: str) -> bool:
    return parse_absolute(text) is not None or parse_period(text) is not None


def resolve_date(text: str, now: datetime) -> datetime | None:
    """The minute a date literal names at `now`, or None when it is not a date."""
    absolute = parse_absolute(text)
    if absolute is not None:
        return to_minute(absolute)
    period = parse_period(text)
    return to_minute(now + period) if period is not None else None


def resolve_date_function(name: str, now: datetime) -> datetime:
    name = name.lower()
    if name == "startofday":
        return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if name == "endofday":
        return now.astimezone(UTC).replace(hour=23, minute=59, second=0, microsecond=0)
    return to_minute(now)
