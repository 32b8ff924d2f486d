"""Nested containers of arrays ("pytrees"): flatten to leaves and back, with paths for errors.

Containers are tuples, lists, dicts (``OrderedDict`` and ``defaultdict`` too), namedtuples,
``None`` (an empty container: it has no leaves) and any class registered with
:func:`register_node` or :func:`register_dataclass`.  Everything else is a leaf.  A container
comes back as the type it was: a namedtuple stays that namedtuple, an ``OrderedDict`` stays
ordered.

The leaves of a dict come in the dict's own (insertion) order, not in sorted key order as in
JAX: results rebuild the same dict with the same keys in the same order, so they always mirror
the input, and a function that reads ``d.values()`` sees its leaves in the order it wrote them.

A *treedef* is the structure without the leaves: ``None`` for a leaf, else a tuple
``(kind, aux, children)``; treedefs compare equal when the structures are the same.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.dispatch import Active, float_array
from ..core.numpy_api import from_objects, joinable

__all__ = [
    "tree_flatten", "tree_unflatten", "tree_map", "tree_leaves", "as_input", "register_node", "register_dataclass",
    "leaf_paths", "leaf_count", "describe", "flatten_up_to", "is_leaf",
]

_NONE = type(None)
# Registered classes: cls -> (flatten(x) -> (children, aux), unflatten(aux, children) -> x,
# names(aux) -> per-child path text or None).
_NODES: dict[type, tuple[Callable, Callable, Callable | None]] = {}


def register_node(cls: type, flatten: Callable, unflatten: Callable, names: Callable | None = None) -> type:
    """Make instances of ``cls`` containers: ``flatten(x) -> (children, aux)`` gives the
    children (a sequence of subtrees) and hashable auxiliary data; ``unflatten(aux, children)``
    rebuilds an instance.  ``names(aux)``, optional, gives each child's path text (``.w``)."""
    if not isinstance(cls, type):
        raise TypeError(f"register_node(cls, ...) needs a class, got {cls!r:.60}")
    if not callable(flatten) or not callable(unflatten):
        raise TypeError(f"register_node({cls.__name__}, flatten, unflatten): flatten and unflatten must be callables")
    if cls in (tuple, list, dict, _NONE) or cls in _NODES:
        raise ValueError(f"{cls.__name__} is already a registered container type")
    _NODES[cls] = (flatten, unflatten, names)
    return cls


def register_dataclass(cls: type, data_fields=None, meta_fields=None) -> type:
    """Make a dataclass a container whose children are its ``data_fields`` (default: every
    field not marked ``field(metadata={'static': True})``); ``meta_fields`` are kept as
    structure (they must be hashable) and rebuilt as they were."""
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"register_dataclass needs a dataclass type, got {cls!r:.60}; decorate it with @dataclasses.dataclass first")
    fields = [f for f in dataclasses.fields(cls) if f.init]
    if data_fields is None:
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
    if meta_fields is None:
        meta_fields = [f.name for f in fields if f.name not in data_fields]
    data, meta = tuple(data_fields), tuple(meta_fields)
    missing = {f.name for f in fields} - set(data) - set(meta)
    if missing:
        raise ValueError(f"register_dataclass({cls.__name__}): fields {sorted(missing)} are neither data nor meta fields")

    def flatten(x):
        return [getattr(x, n) for n in data], tuple(getattr(x, n) for n in meta)

    def unflatten(aux, children):
        return cls(**dict(zip(data, children)), **dict(zip(meta, aux)))

    return register_node(cls, flatten, unflatten, lambda aux: [f".{n}" for n in data])


def _flatten(t, leaves: list):
    tt = type(t)
    if tt is tuple or tt is list:
        return (tt, None, tuple([_flatten(c, leaves) for c in t]))
    if tt is dict:
        keys = tuple(t)
        return (dict, keys, tuple([_flatten(t[k], leaves) for k in keys]))
    if t is None:
        return (_NONE, None, ())
    if tt is np.ndarray and joinable(t):
        leaves.append(from_objects(t))  # np.array([c1, c2]) of active values: one active leaf
        return None
    if isinstance(t, Active) or tt is np.ndarray or tt is float:
        leaves.append(t)
        return None
    return _flatten_other(t, tt, leaves)


def _flatten_other(t, tt, leaves: list):
    node = _NODES.get(tt)
    if node is not None:
        children, aux = node[0](t)
        return (tt, aux, tuple([_flatten(c, leaves) for c in children]))
    if isinstance(t, tuple) and hasattr(tt, "_fields"):  # a namedtuple
        return (tt, None, tuple([_flatten(c, leaves) for c in t]))
    if isinstance(t, dict):  # OrderedDict, defaultdict, other dict subclasses
        keys = tuple(t)
        aux = (keys, t.default_factory) if isinstance(t, collections.defaultdict) else keys
        return (tt, aux, tuple([_flatten(t[k], leaves) for k in keys]))
    leaves.append(t)
    return None


def is_leaf(x) -> bool:
    """Whether ``x`` is a leaf rather than a container (``None`` is a container).

    Examples
    --------
    >>> from dualad.transforms.pytree import is_leaf
    >>> is_leaf(1.0), is_leaf(None), is_leaf((1.0,))
    (True, False, False)
    """
    tt = type(x)
    if tt is np.ndarray or tt is float or isinstance(x, Active):
        return True
    return not (x is None or isinstance(x, (tuple, list, dict)) or tt in _NODES)


def tree_flatten(tree) -> tuple[list, Any]:
    """Leaves in a fixed order and a treedef to rebuild the structure.

    Examples
    --------
    >>> from dualad.transforms.pytree import tree_flatten
    >>> tree_flatten({"b": 1.0, "a": (2.0, None)})[0]
    [1.0, 2.0]
    """
    # Module-level recursion, not a recursive closure: a closure that refers to itself forms a
    # reference cycle that would keep the leaves (and a whole tape) alive until the next GC.
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def tree_leaves(tree) -> list:
    """The leaves of ``tree`` in flattening order."""
    leaves: list = []
    _flatten(tree, leaves)
    return leaves


def _build(d, it):
    if d is None:
        return next(it)
    kind, aux, kids = d
    if kind is tuple:
        return tuple([_build(k, it) for k in kids])
    if kind is list:
        return [_build(k, it) for k in kids]
    if kind is dict:
        return dict(zip(aux, [_build(k, it) for k in kids]))
    if kind is _NONE:
        return None
    children = [_build(k, it) for k in kids]
    node = _NODES.get(kind)
    if node is not None:
        return node[1](aux, children)
    if issubclass(kind, collections.defaultdict):
        keys, factory = aux
        return kind(factory, zip(keys, children))
    if issubclass(kind, dict):
        return kind(zip(aux, children))
    return kind(*children)  # namedtuple


def _up_to(d, t, out: list) -> bool:
    if d is None:
        out.append(t)
        return True
    if t is None:  # None for a whole subtree: None at each of its leaves
        out.extend([None] * leaf_count(d))
        return True
    leaves: list = []
    here = _flatten(t, leaves) if t is None or type(t) in (tuple, list, dict) else _flatten_other(t, type(t), leaves)
    if here is None or here[0] is not d[0] or here[1] != d[1] or len(here[2]) != len(d[2]):
        return False
    children = _children(d, t)
    return all(_up_to(k, c, out) for k, c in zip(d[2], children))


def _children(d, t) -> list:
    kind = d[0]
    node = _NODES.get(kind)
    if node is not None:
        return list(node[0](t)[0])
    if kind is _NONE:
        return []
    if issubclass(kind, dict):
        return [t[k] for k in t]
    return list(t)


def flatten_up_to(treedef, tree) -> list | None:
    """The subtrees of ``tree`` at the leaf positions of ``treedef`` (so a ``None`` there is
    kept as a value; a ``None`` in place of a whole subtree gives None for each of its leaves),
    or None when ``tree`` does not have that structure above them.

    Examples
    --------
    >>> from dualad.transforms.pytree import flatten_up_to, tree_flatten
    >>> flatten_up_to(tree_flatten({"w": 1.0, "b": 2.0})[1], {"w": None, "b": (3.0, 4.0)})
    [None, (3.0, 4.0)]
    """
    if treedef is not None and treedef[0] is tuple and type(tree) is tuple and len(tree) == len(treedef[2]) \
            and all(k is None for k in treedef[2]):
        return list(tree)  # the common case (a rule's tuple of per-argument values): no walk
    out: list = []
    return out if _up_to(treedef, tree, out) else None


def leaf_count(treedef) -> int:
    """How many leaves a structure holds."""
    if treedef is None:
        return 1
    return sum(leaf_count(k) for k in treedef[2])


def flat_treedef(n: int) -> tuple:
    """The treedef :func:`tree_flatten` gives for a list of ``n`` leaves.

    Examples
    --------
    >>> from dualad.transforms.pytree import flat_treedef, tree_flatten
    >>> flat_treedef(2) == tree_flatten([1.0, 2.0])[1]
    True
    """
    return (list, None, (None,) * n)


def tree_unflatten(treedef, leaves) -> Any:
    """The structure ``treedef`` rebuilt with ``leaves`` (in flattening order)."""
    if type(treedef) is tuple and type(leaves) is list and (treedef[0] is list or treedef[0] is tuple) \
            and len(leaves) == len(treedef[2]) and not any(treedef[2]):
        # a flat list or tuple of leaves (a transform's arguments): no walk (kids are None or triples)
        return leaves[:] if treedef[0] is list else tuple(leaves)
    return _build(treedef, iter(leaves))


def tree_map(fn, tree):
    leaves, d = tree_flatten(tree)
    return tree_unflatten(d, [fn(x) for x in leaves])


def _child_names(d) -> list[str]:
    kind, aux, kids = d
    if kind is tuple or kind is list:
        return [f"[{i}]" for i in range(len(kids))]
    node = _NODES.get(kind)
    if node is not None:
        return node[2](aux) if node[2] is not None else [f"[<{kind.__name__} child {i}>]" for i in range(len(kids))]
    if issubclass(kind, dict):
        keys = aux[0] if issubclass(kind, collections.defaultdict) else aux
        return [f"[{k!r}]" for k in keys]
    return [f".{n}" for n in kind._fields]


def _paths(d, prefix: str, out: list) -> None:
    if d is None:
        out.append(prefix)
        return
    for name, k in zip(_child_names(d), d[2]):
        _paths(k, prefix + name, out)


def leaf_paths(treedef, root: str = "") -> list[str]:
    """Each leaf's path in Python syntax, ``root`` in front: ``params['layer1'].w``.

    Examples
    --------
    >>> from dualad.transforms.pytree import leaf_paths, tree_flatten
    >>> leaf_paths(tree_flatten({"a": [1.0, 2.0]})[1], "x")
    ["x['a'][0]", "x['a'][1]"]
    """
    out: list = []
    _paths(treedef, root, out)
    return out


def describe(treedef) -> str:
    """A short text of a structure for error messages: ``{'a': *, 'b': (*, *)}``."""
    if treedef is None:
        return "*"
    kind, aux, kids = treedef
    inner = [describe(k) for k in kids]
    if kind is _NONE:
        return "None"
    if kind is list:
        return "[" + ", ".join(inner) + "]"
    if kind is tuple:
        return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"
    if kind is dict:
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(aux, inner)) + "}"
    return f"{kind.__name__}(" + ", ".join(inner) + ")"


def as_input(x, what: str = "input") -> np.ndarray | Active:
    """A transform input: active values as they are, anything else via :func:`float_array`."""
    return x if isinstance(x, Active) else float_array(x, what)
