"""Active values inside NumPy object arrays: what ``np.array([c1, c2])`` and ``np.asarray(x)`` give.

NumPy has no hook for ``np.array``: it asks each element for ``__array__`` and builds the result
itself.  It asks alike for ``np.asarray(x)`` and for each element of ``np.array([c1, c2])``, but
it uses the answer differently: for a scalar element of a list it keeps only the answer's shape
and dtype and stores the element itself; otherwise it keeps the answer's contents.  So an
active value answers with an object array of :class:`EscapedElement` s, each naming its source
value and flat position:

- in ``np.array([c1, 2.0, c2])`` of active scalars the result holds ``c1`` and ``c2`` themselves:
  NumPy computes with them element by element, and dualad joins them into one active array
  wherever it meets them (an operand, a NumPy function on active values, a transform's output);
- in ``np.asarray(x)`` / ``np.array(x)`` / ``np.array([x1, x2])`` of active arrays the result
  holds escaped elements: dualad takes them back as the elements they stand for (so
  ``np.array([x1, x2])`` returned from a differentiated function, or combined with active
  values, carries the derivative), and any other computation with them — arithmetic,
  comparisons, ufunc loops, ``float()`` — raises the escape message.  No number ever leaves.
"""

from __future__ import annotations

import numpy as np

from .dispatch import Active

__all__ = ["EscapedElement", "holder", "is_element"]


class EscapedElement:
    """Element ``index`` (flat, C order) of the active value ``source``, inside an object array.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> J = ad.jacrev(lambda x: np.array([x, 2.0 * x]))(np.array([1.0, 2.0]))  # arrays in a list
    >>> J.shape, J[1, 0, 0]
    ((2, 2, 2), np.float64(2.0))
    """

    __slots__ = ("source", "index", "message")

    def __init__(self, source, index: int, message: str):
        self.source, self.index, self.message = source, index, message

    def _refuse(self, *args, **kwargs):
        raise TypeError(self.message)

    def __getattr__(self, name):
        # NumPy's loops over object arrays call a method of the ufunc's name (``e.exp()``):
        # every such method refuses with the escape message.
        if name.startswith("__"):
            raise AttributeError(name)
        return self._refuse

    def __repr__(self) -> str:
        return f"<element {self.index} of an active {type(self.source).__name__} (escaped)>"

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _refuse
    __pow__ = __rpow__ = __matmul__ = __rmatmul__ = __neg__ = __pos__ = __abs__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _refuse
    __float__ = __int__ = __index__ = __complex__ = __bool__ = __round__ = _refuse
    __reduce_ex__ = __format__ = _refuse
    __hash__ = None


def holder(value: Active, message: str) -> np.ndarray:
    """An object array of ``value``'s shape holding its escaped elements (``__array__``'s answer)."""
    out = np.empty(tuple(value.shape), dtype=object)
    flat = out.reshape(-1)
    for i in range(flat.size):
        flat[i] = EscapedElement(value, i, message)
    return out


def is_element(e) -> bool:
    """Whether ``e`` is an active value or an escaped element (what object arrays may carry)."""
    return isinstance(e, (Active, EscapedElement))
