"""Durations on the command line: a number and a unit, as in 30m, 12h, 7d."""

import re
from datetime import timedelta

from django.core.management.base import CommandError

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration_parse(value: str, *, option: str) -> timedelta:
    """`value` as a timedelta; CommandError naming `option` when it is not one."""
    match = _DURATION.match(value)
    if not match:
        raise CommandError(f"{option} takes a number and a unit s, m, h or d (e.g. 7d), not {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
