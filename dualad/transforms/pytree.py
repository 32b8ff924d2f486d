"""Nested tuples, lists and dicts of arrays ("pytrees"): flatten to leaves and back."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.dispatch import Active

__all__ = ["tree_flatten", "tree_unflatten", "tree_map", "as_input"]


def tree_flatten(tree) -> tuple[list, Any]:
    """Leaves in a fixed order and a description to rebuild the structure."""
    leaves: list = []

    def walk(t):
        if isinstance(t, (tuple, list)):
            kids = tuple(walk(c) for c in t)
            return (type(t), None, kids)
        if isinstance(t, dict):
            keys = tuple(t.keys())
            return (dict, keys, tuple(walk(t[k]) for k in keys))
        leaves.append(t)
        return None

    return leaves, walk(tree)


def tree_unflatten(treedef, leaves) -> Any:
    it = iter(leaves)

    def build(d):
        if d is None:
            return next(it)
        kind, keys, kids = d
        children = [build(k) for k in kids]
        if kind is dict:
            return dict(zip(keys, children))
        if kind is list:
            return children
        if kind is tuple:
            return tuple(children)
        return kind(*children)  # namedtuple

    return build(treedef)


def tree_map(fn, tree):
    leaves, d = tree_flatten(tree)
    return tree_unflatten(d, [fn(x) for x in leaves])


def as_input(x, what: str = "input") -> np.ndarray | Active:
    """A transform input as a float array: ints/bools promote to float64, float32 stays."""
    if isinstance(x, Active):
        return x
    if x is None or isinstance(x, str):
        raise TypeError(f"cannot differentiate with respect to {what} {x!r}: pass a float array or number")
    a = np.asarray(x)
    if a.dtype.kind == "f":
        return a
    if a.dtype.kind in "biu":
        return a.astype(np.float64)
    if a.dtype.kind == "c":
        raise NotImplementedError(
            f"complex {what} is not supported yet; split it into real and imaginary float arrays"
        )
    raise TypeError(f"cannot differentiate with respect to {what} of dtype {a.dtype}: pass a float array")
