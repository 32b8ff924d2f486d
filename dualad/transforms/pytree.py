"""Nested tuples, lists and dicts of arrays ("pytrees"): flatten to leaves and back."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.dispatch import Active, float_array
from ..core.numpy_api import from_objects, holds_actives

__all__ = ["tree_flatten", "tree_unflatten", "tree_map", "as_input"]


def _flatten(t, leaves: list):
    if isinstance(t, (tuple, list)):
        return (type(t), None, tuple(_flatten(c, leaves) for c in t))
    if isinstance(t, dict):
        keys = tuple(t.keys())
        return (dict, keys, tuple(_flatten(t[k], leaves) for k in keys))
    # np.array([c1, c2]) of active scalars is an object array: one active array as a leaf
    leaves.append(from_objects(t) if type(t) is np.ndarray and t.dtype.kind == "O" and holds_actives(t) else t)
    return None


def tree_flatten(tree) -> tuple[list, Any]:
    """Leaves in a fixed order and a description to rebuild the structure."""
    # Module-level recursion, not a recursive closure: a closure that refers to itself forms a
    # reference cycle that would keep the leaves (and a whole tape) alive until the next GC.
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _build(d, it):
    if d is None:
        return next(it)
    kind, keys, kids = d
    children = [_build(k, it) for k in kids]
    if kind is dict:
        return dict(zip(keys, children))
    if kind is list:
        return children
    if kind is tuple:
        return tuple(children)
    return kind(*children)  # namedtuple


def tree_unflatten(treedef, leaves) -> Any:
    return _build(treedef, iter(leaves))


def tree_map(fn, tree):
    leaves, d = tree_flatten(tree)
    return tree_unflatten(d, [fn(x) for x in leaves])


def as_input(x, what: str = "input") -> np.ndarray | Active:
    """A transform input: active values as they are, anything else via :func:`float_array`."""
    return x if isinstance(x, Active) else float_array(x, what)
