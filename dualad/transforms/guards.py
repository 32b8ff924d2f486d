"""What a recording checks before it replays, beyond its inputs' shapes and its guards.

Python code folds the numbers and arrays it reads into the recording as constants.  Values read
from ``f``'s module globals and closure cells are snapshotted when ``f`` is recorded and
compared at each replay (a changed one records ``f`` again).
"""

from __future__ import annotations

import numpy as np

from ..core.dispatch import same_result
from ..rules.base import outside_reads

__all__ = ["free_constants", "constants_hold", "snapshot"]


def snapshot(x):
    """``x`` as it is now: arrays copied (a later in-place change must not pass for it)."""
    return x.copy() if isinstance(x, np.ndarray) else x


_CONSTANT_TYPES = (bool, int, float, complex, str, np.generic, np.ndarray)


def free_constants(f) -> list:
    """Where ``f`` reads numbers or arrays from outside its arguments — its module's globals and
    its closure cells, by the names its code uses — as ``(namespace, name, snapshot)``.  Python
    code folds such values into the recording; a replay checks them, so that a changed global
    records again instead of replaying the old value.  (Values read by *other* functions that
    ``f`` calls are not seen: pass them as arguments.)"""
    return [(where, name, snapshot(value)) for where, name, value in outside_reads(f) if isinstance(value, _CONSTANT_TYPES)]


def constants_hold(found: list) -> bool:
    """Whether every value :func:`free_constants` found still equals its snapshot."""
    for where, name, value in found:
        try:
            now = where[name] if isinstance(where, dict) else where.cell_contents
        except (KeyError, ValueError):
            return False
        if not same_result(now, value):
            return False
    return True
