"""Steps of a program that call NumPy once on views of the buffer: products, broadcasts, sums.

A lowered program (:mod:`dualad.transforms.program`) runs large values through NumPy where
its loops (BLAS, broadcasting copies, axis reductions) beat the VM's element loop.  Each step
here is planned once, when the program is lowered — the views' shapes, the permutations, the
axes — and at a run only takes views of the buffer and calls one NumPy function that writes
into the value's slot (``out=``), so nothing is planned, allocated or copied per call beyond
what NumPy itself does:

- :class:`ProductStep`: a (batched) matrix product, ``np.matmul`` on permuted views of the
  operands as they lie (transposed operands are read in place by BLAS) into the output's slot,
  or into a new array handed to the caller (a value only the outputs read); an operand that is
  a large argument of the program is read from the caller's array, not copied into the buffer.
- :class:`BroadcastStep`: a value broadcast to a larger shape, ``np.copyto`` (a strided copy,
  not a gather through an index table).
- :class:`AxisSumStep`: a sum along axes, ``np.sum(..., out=)``.

Each has ``run(buf, held)`` (the forward step) and ``adjoint(buf, adj, held)`` (its reverse,
adding into the operands' adjoints), as the fused runs of :mod:`.fusion` have.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ProductStep", "BroadcastStep", "AxisSumStep", "FLIP_MIN", "FLIP_COLUMNS"]

#: A product ``A @ B`` whose ``A`` has at least this many elements and whose result at most
#: :data:`FLIP_COLUMNS` columns runs as ``(Bᵀ Aᵀ)ᵀ`` (into a small temporary, then copied): NumPy's
#: OpenBLAS runs a large, memory-bound ``A`` against a narrow ``B`` 1.3–1.7× faster that way
#: (measured on one thread: 2000 × 2000 by 2000 × 8, 4.2–5.2 ms against 2.9–3.6 ms; 2000 × 1000
#: by 1000 × 8, 2.7 against 1.7 ms; 1024 × 1024 by 1024 × 8, within the cache, is faster as it
#: is, 0.73 against 0.95 ms).
FLIP_MIN = 1 << 21
#: See :data:`FLIP_MIN`.
FLIP_COLUMNS = 32


def _view(buf, off: int, shape: tuple):
    return buf[off:off + math.prod(shape)].reshape(shape)


def _inverse(perm) -> tuple:
    return tuple(int(i) for i in np.argsort(perm))


class ProductStep:
    """A matrix product ``Y = A @ B`` (batched) as a step of a program.

    Parameters
    ----------
    operands : list
        ``(node, offset, shape)`` of ``A`` and ``B`` (node None for a constant).
    out : tuple
        ``(node, offset, shape)`` of the result.
    layout : tuple
        ``(perm_a, perm_b, batch, m, k, n, natural, perm_out)`` as the lowering's matmul
        layout gives it: ``A`` permuted by ``perm_a`` is ``batch × m × k``, ``B`` permuted by
        ``perm_b`` is ``batch × k × n``, and the product, of shape ``natural``, permuted by
        ``perm_out`` is the result.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.numpy_steps import ProductStep
    >>> buf = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 0.0, 0.0])
    >>> layout = ((0, 1), (0, 1), 1, 2, 2, 1, (2, 1), (0, 1))        # (2, 2) @ (2, 1)
    >>> step = ProductStep([(None, 1, (2, 2)), (0, 5, (2, 1))], (1, 7, (2, 1)), layout)
    >>> step.run(buf, {}); buf[7:]
    array([3., 7.])
    """

    def __init__(self, operands: list, out: tuple, layout: tuple):
        perm_a, perm_b, nbatch, m, k, n, natural, perm_out = layout
        lead = () if nbatch == 1 else (nbatch,)
        (node_a, off_a, shape_a), (node_b, off_b, shape_b) = operands
        self.ops = [(node_a, off_a, tuple(shape_a), tuple(perm_a), lead + (m, k)),
                    (node_b, off_b, tuple(shape_b), tuple(perm_b), lead + (k, n))]
        self.node, self.off, self.shape = out[0], out[1], tuple(out[2])
        self.natural, self.back = tuple(natural), _inverse(perm_out)
        self.mat = lead + (m, n)
        probe = np.empty(self.shape).transpose(self.back)  # can matmul write the result in place?
        self.in_place = np.shares_memory(probe.reshape(self.mat), probe)
        self.flip = nbatch == 1 and m * k >= FLIP_MIN and n <= FLIP_COLUMNS
        self.direct: frozenset = frozenset()  # operands' nodes read from the caller's arrays
        self.fresh = False  # whether the result is a new array per run, ``held[node]``
        self.nodes = [out[0]]

    def __repr__(self) -> str:
        return f"<ProductStep {self.mat[:-2]}{self.ops[0][4][-2:]} @ {self.ops[1][4][-2:]}>"

    def _operand(self, buf, held, j: int):
        node, off, shape, perm, mat = self.ops[j]
        x = np.asarray(held[node]).reshape(shape) if node in self.direct else _view(buf, off, shape)
        return x.transpose(perm).reshape(mat)

    def run(self, buf, held) -> None:
        """Write the product to the result's slot (or to a new array, ``held[node]``)."""
        a, b = self._operand(buf, held, 0), self._operand(buf, held, 1)
        if self.fresh:
            y = held[self.node] = np.empty(self.shape, buf.dtype)
        else:
            y = _view(buf, self.off, self.shape)
        target = y.transpose(self.back)
        if self.flip:
            target[...] = np.matmul(b.T, a.T).T.reshape(self.natural)
        elif self.in_place:
            np.matmul(a, b, out=target.reshape(self.mat))
        else:
            target[...] = np.matmul(a, b).reshape(self.natural)

    def adjoint(self, buf, adj, held) -> None:
        """Add ``Ȳ Bᵀ`` to ``Ā`` and ``Aᵀ Ȳ`` to ``B̄`` (not to constant operands)."""
        g = _view(adj, self.off, self.shape).transpose(self.back).reshape(self.mat)
        for j in (0, 1):
            node, off, shape, perm, _ = self.ops[j]
            if node is None:
                continue
            other = self._operand(buf, held, 1 - j)
            c = np.matmul(g, np.swapaxes(other, -1, -2)) if j == 0 else np.matmul(np.swapaxes(other, -1, -2), g)
            dst = _view(adj, off, shape).transpose(perm)
            dst += c.reshape(dst.shape)

    def read_leaves(self, nodes) -> None:
        """Read the operands that are the leaves ``nodes`` from the caller's arrays (given in
        ``held``), not from the buffer."""
        self.direct = frozenset(n for n, *_ in self.ops if n in nodes)


class BroadcastStep:
    """A value of shape ``shape`` broadcast to ``out_shape`` (NumPy's rules) as a program step.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.numpy_steps import BroadcastStep
    >>> buf = np.array([0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    >>> step = BroadcastStep(1, (2,), 3, (2, 2))
    >>> step.run(buf, {}); buf[3:]
    array([1., 2., 1., 2.])
    """

    def __init__(self, off: int, shape: tuple, out: int, out_shape: tuple):
        self.off, self.shape, self.out, self.out_shape = off, tuple(shape), out, tuple(out_shape)
        lead = len(self.out_shape) - len(self.shape)
        self.axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(self.shape) if d != self.out_shape[lead + i])

    def __repr__(self) -> str:
        return f"<BroadcastStep {self.shape} -> {self.out_shape}>"

    def run(self, buf, held=None) -> None:
        """Write the broadcast value."""
        np.copyto(_view(buf, self.out, self.out_shape), _view(buf, self.off, self.shape))

    def adjoint(self, buf, adj, held=None) -> None:
        """Add the broadcast's adjoints, summed over the broadcast axes, to the source's."""
        g = _view(adj, self.out, self.out_shape).sum(axis=self.axes)
        dst = _view(adj, self.off, self.shape)
        dst += g.reshape(self.shape)


class AxisSumStep:
    """A sum of a value of shape ``shape`` along ``axes`` (result of ``out_shape``) as a step.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.numpy_steps import AxisSumStep
    >>> buf = np.concatenate([[0.0], np.arange(1.0, 7.0), np.zeros(2)])   # a (2, 3) value at 1
    >>> AxisSumStep(1, (2, 3), (-1,), 7, (2, 1)).run(buf)                # its row sums at 7
    >>> buf[7:].tolist()
    [6.0, 15.0]
    """

    def __init__(self, off: int, shape: tuple, axes, out: int, out_shape: tuple):
        self.off, self.shape, self.out, self.out_shape = off, tuple(shape), out, tuple(out_shape)
        self.axes = tuple(sorted({int(a) % len(self.shape) for a in axes}))
        self.kept = tuple(d for i, d in enumerate(self.shape) if i not in self.axes)
        self.keepdims = tuple(1 if i in self.axes else d for i, d in enumerate(self.shape))

    def __repr__(self) -> str:
        return f"<AxisSumStep {self.shape} over {self.axes}>"

    def run(self, buf, held=None) -> None:
        """Write the sum."""
        np.sum(_view(buf, self.off, self.shape), axis=self.axes, out=_view(buf, self.out, self.kept))

    def adjoint(self, buf, adj, held=None) -> None:
        """Add the sum's adjoint to every summed element's."""
        dst = _view(adj, self.off, self.shape)
        dst += _view(adj, self.out, self.keepdims)
