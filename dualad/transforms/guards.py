"""What a recording checks before it replays, beyond its inputs' shapes and its guards.

Python code folds the numbers and arrays it reads into the recording as constants.  Values read
from ``f``'s module globals and closure cells are snapshotted when ``f`` is recorded and
compared at each replay (a changed one records ``f`` again).
"""

from __future__ import annotations

import numpy as np

from ..core.dispatch import same_result

__all__ = ["free_constants", "constants_hold"]


def _snapshot(x):
    return x.copy() if isinstance(x, np.ndarray) else x


_CONSTANT_TYPES = (bool, int, float, complex, str, np.generic, np.ndarray)


def _code_names(code) -> set:
    names = set(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            names |= _code_names(c)
    return names


def free_constants(f) -> list:
    """Where ``f`` reads numbers or arrays from outside its arguments — its module's globals and
    its closure cells, by the names its code uses — as ``(namespace, key, snapshot)``.  Python
    code folds such values into the recording; a replay checks them, so that a changed global
    records again instead of replaying the old value.  (Values read by *other* functions that
    ``f`` calls are not seen: pass them as arguments.)"""
    code = getattr(f, "__code__", None)
    if code is None:
        return []
    found = []
    g = getattr(f, "__globals__", {})
    for name in sorted(_code_names(code)):
        if name in g and isinstance(g[name], _CONSTANT_TYPES):
            found.append((g, name, _snapshot(g[name])))
    for cell in getattr(f, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, _CONSTANT_TYPES):
            found.append((cell, None, _snapshot(value)))
    return found


def constants_hold(found: list) -> bool:
    """Whether every value :func:`free_constants` found still equals its snapshot."""
    for where, name, value in found:
        try:
            now = where.cell_contents if name is None else where[name]
        except (KeyError, ValueError):
            return False
        if not same_result(now, value):
            return False
    return True
