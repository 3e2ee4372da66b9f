"""Checking sends against Telegram's limits, for the tests and the benchmark alike."""

from __future__ import annotations

from collections.abc import Sequence


def most_in_any_window(times: Sequence[float], seconds: float) -> int:
    """The largest number of `times` inside any half-open stretch of `seconds`."""
    ordered = sorted(times)
    start, most = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - seconds:
            start += 1
        most = max(most, end - start + 1)
    return most
