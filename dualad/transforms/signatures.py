"""Cache keys of the Jacobian engine: argument signatures (structure, shapes, dtypes),
content fingerprints of the other arguments and of given patterns, and the check that a cached
plan still fits f's output."""

from __future__ import annotations

import threading
import weakref

import numpy as np

from ..core import device
from ..core.dispatch import Active, strip
from .pytree import tree_flatten

__all__ = ["signature", "pattern_key", "fingerprint", "same_structure", "Stale", "PLANS", "LOCK"]


def _leaf_sig(x):
    if isinstance(x, (np.ndarray, np.generic, Active)) or device.is_device(x):
        return (tuple(x.shape), np.dtype(x.dtype).str)
    if isinstance(x, (bool, int, float, complex)):
        # by type only: a time t passed to f(x, t) must not re-measure at every step
        return ((), type(x).__name__)
    if x is None or isinstance(x, (str, bytes)):
        return (type(x).__name__, x)
    return (type(x).__name__, id(x))


def signature(args: tuple) -> tuple:
    """Structure, shapes and dtypes of every argument (the values of strings and None)."""
    sig = []
    for i, a in enumerate(args):
        leaves, d = tree_flatten(a)
        sig.append((d, tuple(_leaf_sig(x) for x in leaves)))
    return tuple(sig)


def _digest(a) -> str:
    import hashlib

    data = np.ascontiguousarray(a)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{data.dtype.str}{data.shape}".encode())
    h.update(data.view(np.uint8).data if data.size else b"")
    return h.hexdigest()


def pattern_key(P) -> tuple:
    """A cache key fixed by a CSR pattern's content (not its identity: ids are reused)."""
    return ("pattern", P.shape, _digest(P.indptr), _digest(P.indices))


def fingerprint(args: tuple, nums: tuple) -> tuple | None:
    """What a sparsity pattern may depend on besides input shapes: the values of the
    non-differentiated arguments (zeros in products, branches on them), hashed in full.
    None when an argument cannot be keyed by value (an unhashable object): not cached then."""
    fp = []
    for i, a in enumerate(args):
        if i in nums:
            continue
        for x in tree_flatten(a)[0]:
            if isinstance(x, Active):
                x = strip(x)
            if isinstance(x, (np.ndarray, np.generic)):
                fp.append(_digest(x))
            elif x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
                fp.append((type(x).__name__, x))  # Python branches may test them
            else:
                try:
                    hash(x)
                except TypeError:
                    return None
                fp.append(x)  # by its own equality, kept alive by the key (no reused ids)
    return tuple(fp)



def same_structure(out_info, plan) -> bool:
    """Whether a run's output structure ``(treedef, shapes)`` is the one the plan was made for.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from dualad.transforms.signatures import same_structure
    >>> same_structure((None, [(2,)]), SimpleNamespace(out_def=None, out_shapes=[[2]]))
    True
    """
    o_def, shapes = out_info
    return o_def == plan.out_def and [tuple(x) for x in shapes] == [tuple(x) for x in plan.out_shapes]


class Stale(Exception):
    """A cached plan does not fit f's output any more (its shape depends on more than the
    input shapes, e.g. on the value of a Python number argument)."""


PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
LOCK = threading.Lock()
