"""What every transform shares: argument checks, argnums, Jacobian assembly."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core import device
from ..core.dispatch import Active, strip
from ..core.observed import ObservedIndex, plain
from .pytree import as_input, flat_treedef, leaf_paths, tree_flatten, tree_unflatten

__all__ = [
    "check_callable", "flatten_output", "norm_argnums", "is_single", "size_of", "prepare_args", "assemble_jacobian", "same_place",
    "check_output", "check_inputs_dtype", "check_output_dtype",
]


def check_callable(f, name: str) -> None:
    if not callable(f):
        raise TypeError(f"{name}(f, ...) needs a callable f, got {type(f).__name__} {f!r:.60}")


def check_output(o, name: str, index: int | None = None, count: int = 1) -> None:
    """Raise unless the output leaf ``o`` can carry a derivative.

    Active values and float or complex arrays or numbers can (a plain float output that does not
    depend on the inputs has derivative zero); a bool, integer, string, object or ``None`` output cannot,
    and a zero derivative for it would be a silent wrong answer (``grad`` of ``np.allclose``).
    """
    if isinstance(o, Active):
        return
    if o is None:
        dt = "None"
    else:
        try:
            kind = np.dtype(o.dtype).kind if hasattr(o, "dtype") else np.asarray(o).dtype.kind
            dt = str(o.dtype) if hasattr(o, "dtype") else type(o).__name__
        except (TypeError, ValueError):  # ragged or opaque objects NumPy cannot make an array of
            kind, dt = "O", type(o).__name__
        if kind in "fc":
            return
    where = "f's output" if count == 1 or index is None else f"f's output leaf {index} (of {count}, in flattening order)"
    raise TypeError(
        f"{name}: {where} is {'None' if o is None else f'of dtype {dt}'}, which carries no derivative "
        "(comparisons, counts and tests such as np.allclose return such values); return a float "
        "array, e.g. y.astype(float) for a piecewise-constant value whose derivative is zero"
        + (", or return it as auxiliary data with has_aux=True" if name in ("grad", "value_and_grad") else "")
    )


def check_inputs_dtype(name: str, holomorphic: bool, leaves: list, forward: bool = False) -> None:
    """JAX's checks of a transform's input dtypes: ``holomorphic=True`` needs complex inputs; a
    forward-mode Jacobian (``forward``) of complex inputs needs ``holomorphic=True`` (the
    real-linear map of a non-holomorphic function is no complex matrix)."""
    if not holomorphic and not forward:  # nothing to check (no dtype is read then)
        return
    for x in leaves:
        dt = np.dtype(x.dtype)
        if holomorphic and dt.kind != "c":
            raise TypeError(f"{name} with holomorphic=True requires inputs with complex dtype, but got {dt}.")
        if forward and not holomorphic and dt.kind == "c":
            raise TypeError(
                f"{name} requires real-valued inputs (input dtype that is a sub-dtype of np.floating), but got "
                f"{dt}. For holomorphic differentiation, pass holomorphic=True. For differentiation of "
                "non-holomorphic functions involving complex inputs, use dualad.jvp directly (or "
                "dualad.jacrev for a real-valued function)."
            )


def check_output_dtype(name: str, holomorphic: bool, dtype, forward: bool = False) -> None:
    """JAX's checks of a transform's output dtype: ``holomorphic=True`` needs a complex output;
    otherwise a reverse-mode derivative (``grad``, ``jacrev``) needs a real one."""
    dt = np.dtype(dtype)
    if holomorphic and dt.kind != "c":
        raise TypeError(f"{name} with holomorphic=True requires outputs with complex dtype, but got {dt}.")
    if not forward and not holomorphic and dt.kind == "c":
        raise TypeError(
            f"{name} requires real-valued outputs (output dtype that is a sub-dtype of np.floating), but got "
            f"{dt}. For holomorphic differentiation, pass holomorphic=True. For differentiation of "
            "non-holomorphic functions involving complex outputs, use dualad.vjp directly."
        )


def flatten_output(out, name: str) -> tuple[list, Any]:
    """``f``'s output as (leaves, treedef); an output that is ``None`` itself (a function
    without a ``return``) raises as a leaf without derivative would, rather than giving an
    empty result."""
    if out is None:
        check_output(None, name)
    leaves, treedef = tree_flatten(out)
    # an index computed from the inputs (argmax) leaves as its plain value: a guard of a recording
    return [plain(x) if isinstance(x, ObservedIndex) else x for x in leaves], treedef


#: (argnums, nargs) -> normalised argnums, for argnums given as an int or a tuple (hashable,
#: and unchangeable: a list is normalised at every call)
_NORMALISED: dict = {}


def norm_argnums(argnums, nargs: int, name: str) -> tuple[int, ...]:
    key = (argnums, nargs) if type(argnums) is int or type(argnums) is tuple else None
    if key is not None:
        try:
            nums = _NORMALISED.get(key)
        except TypeError:  # (a tuple holding something unhashable: checked below)
            key = nums = None
        if nums is not None:
            return nums
    nums = _normalise_argnums(argnums, nargs, name)
    if key is not None:
        if len(_NORMALISED) > 1024:
            _NORMALISED.clear()
        _NORMALISED[key] = nums
    return nums


def _normalise_argnums(argnums, nargs: int, name: str) -> tuple[int, ...]:
    nums = (int(argnums),) if is_single(argnums) else tuple(int(a) for a in argnums)
    if not nums:
        raise ValueError(f"{name}: argnums is empty; give at least one argument index")
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(
                f"{name}: argnums={argnums!r} is out of range for a call with {nargs} positional "
                f"argument(s); use an index between 0 and {nargs - 1}"
            )
    return tuple(a % nargs for a in nums)


def is_single(argnums) -> bool:
    """One argument index (results unwrapped) rather than a sequence of them (results in a tuple).

    Examples
    --------
    >>> from dualad.transforms.common import is_single
    >>> is_single(0), is_single((0,))
    (True, False)
    """
    return isinstance(argnums, (int, np.integer))


def size_of(shape) -> int:
    """Elements of an array of this shape (1 for ``()``).

    Examples
    --------
    >>> from dualad.transforms.common import size_of
    >>> size_of((2, 3)), size_of(())
    (6, 1)
    """
    return int(math.prod(shape))


def prepare_args(args: tuple, argnums: tuple[int, ...], allow_empty: bool = False):
    """Flatten the differentiated arguments: (leaves, rebuild), rebuild(new_leaves) -> args.
    ``allow_empty``: containers without leaves (``[]``, ``{}``) are accepted, as JAX's ``grad``
    and ``vjp`` accept them (their cotangent is the same empty structure); an argument that is
    None itself is refused (more likely a mistake than an empty subtree)."""
    trees = [args[i] for i in argnums]
    if trees and _all_plain(trees):  # the common case: each a host leaf, no tree walk
        leaves = [np.asarray(t) if type(t) is float else t for t in trees]
        treedef = flat_treedef(len(leaves))
    else:
        leaves, treedef = tree_flatten(trees)
        if not leaves and not (allow_empty and all(t is not None for t in trees)):
            raise TypeError(
                f"cannot differentiate with respect to argument(s) {argnums[0] if len(argnums) == 1 else argnums}: "
                "they hold no arrays (None and empty containers have no leaves); pass a float array or number"
            )
        try:
            leaves = same_place([as_input(x) for x in leaves])
        except (TypeError, NotImplementedError):
            _raise_for_leaf(leaves, treedef, argnums)
            raise

    def rebuild(new_leaves):
        new = list(args)
        for i, t in zip(argnums, tree_unflatten(treedef, new_leaves)):
            new[i] = t
        return tuple(new)

    return leaves, treedef, rebuild


def _all_plain(trees: list) -> bool:
    """Whether every tree is a Python float or a float or complex NumPy array (a leaf that
    :func:`prepare_args` takes as it is)."""
    for t in trees:
        if type(t) is not float and not (type(t) is np.ndarray and t.dtype.kind in "fc"):
            return False
    return True


def _raise_for_leaf(leaves, treedef, argnums) -> None:
    """Raise the error of the first leaf that is not a float array, naming it by its path
    (``argument 0['w'][1]``)."""
    for x, p in zip(leaves, leaf_paths(treedef)):
        i = int(p[1: p.index("]")])  # paths start with "[i]", the i-th differentiated argument
        as_input(x, f"argument {argnums[i]}{p[p.index(']') + 1:]}")


def same_place(leaves: list, what: str = "the differentiated arguments") -> list:
    """Transform inputs all on the host or all on one device: host arrays next to device arrays
    raise (naming the fix); scalars (0-d host arrays) next to device arrays are moved to the
    device, so every input, seed and result of the transform lives there."""
    like = device.locate([strip(x) for x in leaves], what)
    if like is None:
        return leaves
    xp = device.namespace(like)
    return [xp.asarray(x) if type(x) is np.ndarray else x for x in leaves]


def assemble_jacobian(out_treedef, out_blocks: list[np.ndarray], in_leaves: list, in_treedef, single: bool) -> Any:
    """Split each output's ``S_out + (n,)`` block into per-input ``S_out + S_in`` blocks.

    The result mirrors the output structure, each leaf mirroring the input structure (a tuple
    over argnums when several were asked for).
    """
    sizes = [size_of(x.shape) for x in in_leaves]
    offsets = np.cumsum([0] + sizes)
    per_out = []
    for block in out_blocks:
        s_out = block.shape[:-1]
        parts = [
            block[..., offsets[j]: offsets[j + 1]].reshape(s_out + tuple(x.shape))
            for j, x in enumerate(in_leaves)
        ]
        tree = tree_unflatten(in_treedef, parts)
        per_out.append(tree[0] if single else tuple(tree))
    return tree_unflatten(out_treedef, per_out)
