"""Forward mode: vectorised dual tensors.

A :class:`Dual` is a primal array plus k tangent *lanes* stored on a leading axis, so one pass
pushes k directions.  Plain-array operands take the fused Numba kernels; when the primal is
itself active (nesting), the rule's value and partials are evaluated through NumPy dispatch and
combined with strong-zero products, so the older level differentiates them in turn.
"""

from __future__ import annotations

import threading

import numpy as np

from ..core import device
from ..core.array import ArrayBehaviour, not_a_sequence
from ..core.dispatch import Active, apply_elementwise, check_tangent_dtype, float_array, float_dtype, new_tag, read_only, strip
from ..kernels import backend
from ..rules.arith import lane_sum, push_terms
from ..rules.derive import derivable

__all__ = ["Dual", "default_tag"]

_local = threading.local()


def default_tag() -> int:
    """The tag of Duals made by hand with ``Dual(p, t)`` in this thread (one per thread)."""
    tag = getattr(_local, "tag", None)
    if tag is None:
        tag = _local.tag = new_tag()
    return tag


def _as_primal(x) -> np.ndarray:
    if isinstance(x, Active):
        raise TypeError("Dual(primal, tangent) takes plain arrays; nest derivatives with dualad.jvp / jacfwd instead")
    return float_array(x, "a Dual's primal")


def _push(partials, ts, y, k: int):
    """Tangent lanes of ``y``: Σ_i ∂_i · ẋ_i with strong-zero products, NumPy dispatch (the
    partials and ``y`` may be active at older levels); zeros where ``y`` lives if no input
    contributes."""
    ty = lane_sum(partials, ts, y, k)
    return device.zeros((k,) + tuple(y.shape), y.dtype, strip(y)) if ty is None else ty


@not_a_sequence
class Dual(ArrayBehaviour):
    """A primal array with one or k tangent directions.

    Parameters
    ----------
    primal : array_like
        The value.  Integers and bools become float64; float32 stays float32.
    tangent : array_like
        Of the primal's shape (one direction) or of shape ``(k,) + primal.shape`` (k lanes).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> x = ad.Dual(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    >>> y = np.sin(x) * 2.0
    >>> y.tangent
    array([2.        , 1.08060461])
    >>> lanes = ad.Dual(np.array([1.0, 2.0]), np.eye(2))   # two directions at once
    >>> (lanes * lanes).tangent
    array([[2., 0.],
           [0., 4.]])
    """

    __slots__ = ("_t", "_single", "shape", "dtype")  # and Active's _p, _tag
    _kind = "Dual"

    def __init__(self, primal, tangent):
        p = _as_primal(primal)
        if isinstance(tangent, Active):
            raise TypeError("a Dual's tangent must be a plain array")
        t = device.asarray(tangent)
        if device.locate([p, t], "Dual(primal, tangent)") is not None and type(t) is np.ndarray:
            t = device.namespace(p).asarray(t)  # a scalar (0-d) tangent goes with the primal
        check_tangent_dtype(p, t, "Dual(primal, tangent)")
        t = t.astype(p.dtype, copy=False)
        if t.shape == p.shape:
            t, single = t[None], True
        elif t.ndim == p.ndim + 1 and t.shape[1:] == p.shape:
            single = False
        else:
            raise ValueError(
                f"tangent shape {t.shape} does not fit primal shape {p.shape}: give the primal's shape "
                f"(one direction) or (k,) + {p.shape} (k directions)"
            )
        self._p, self._t, self._tag, self._single = p, t, default_tag(), single
        self.shape, self.dtype = p.shape, p.dtype

    @staticmethod
    def make(p, t, tag: int, single: bool) -> Dual:
        """A Dual of tag ``tag`` from a primal and its lane array ``t`` of shape
        ``(k,) + p.shape`` (``single``: one direction, shown without the lane axis); nothing
        is checked or copied (package-internal)."""
        d = object.__new__(Dual)
        d._p, d._t, d._tag, d._single = p, t, tag, single
        d.shape, d.dtype = tuple(p.shape), p.dtype
        return d

    @property
    def primal(self):
        """The primal value (an array, or an active value of an outer level when nested).

        A NumPy array comes back read-only: writing into it would put the primal out of step
        with its tangent."""
        return read_only(self._p)

    @property
    def tangent(self):
        """The tangent: primal-shaped for one direction, ``(k,) + shape`` for k lanes (a NumPy
        array comes back read-only)."""
        return read_only(self._t[0] if self._single else self._t)

    @property
    def lane_tangents(self):
        """The tangent lanes, ``(k,) + shape`` even for one direction (read-only for NumPy)."""
        return read_only(self._t)

    @property
    def lanes(self) -> int:
        """Number of tangent directions carried."""
        return self._t.shape[0]

    def __repr__(self) -> str:
        return f"Dual(primal={self._p!r}, tangent={self.tangent!r})"

    def _copy(self) -> Dual:
        return Dual.make(self._p, self._t, self._tag, self._single)

    def _assign(self, new) -> None:
        if not isinstance(new, Dual):
            raise TypeError(
                "cannot assign a value of another kind of transform into a Dual in place; build "
                "the result with np.where / np.concatenate instead"
            )
        self._p, self._t, self._tag, self._single = new._p, new._t, new._tag, new._single
        self.shape, self.dtype = new.shape, new.dtype

    # -- differentiation --------------------------------------------------------------------
    def _split(self, args):
        tag = self._tag
        ps, ts = [], []
        single, k = True, None
        for a in args:
            if type(a) is Dual and a._tag == tag:
                ps.append(a._p)
                ts.append(a._t)
                single = single and a._single
                lk = a._t.shape[0]
                if k is None:
                    k = lk
                elif lk != k:
                    raise ValueError(f"operands carry different numbers of tangent lanes ({k} and {lk})")
            else:
                ps.append(a)
                ts.append(None)
        return ps, ts, single

    def _elementwise(self, rule, args):
        ps, ts, single = self._split(args)
        k = self._t.shape[0]
        if not any(isinstance(p, Active) for p in ps):
            like = device.locate(ps, rule.name)
            if like is None:
                y, ty = backend.push(rule, ps, ts, k, float_dtype(ps))
            else:
                y, ty = backend.push(rule, ps, ts, k, device.result_dtype(ps), device.namespace(like))
            return Dual.make(y, ty, self._tag, single)
        # Nested: the primals are active at an older level, which differentiates the rule's
        # NumPy expressions in turn.
        y, partials, lanes = push_terms(rule, ps, ts)
        # A non-ufunc rule's value expression may have other conventions at kinks (relu via
        # maximum), so the older level takes the value from the rule itself.
        if rule.ufunc is None:
            y = apply_elementwise(rule, ps)
        return Dual.make(y, _push(partials, lanes, y, k), self._tag, single)

    def fused_adjoints(self, rule, values, g, needed):
        """``ḡ · ∂_i`` of ``rule`` at ``values`` (Duals of this tag, or constants) for a cotangent
        ``ḡ`` of one reverse lane, ``(1,) + shape``, plain or a Dual of this tag: one fused
        forward-over-reverse kernel.  None where it does not apply (deeper nesting, several
        reverse lanes, small arrays); the caller then evaluates the rule on the Duals."""
        if not any(needed) or not derivable(rule):
            return None
        tag = self._tag
        if type(g) is Dual:
            if g._tag != tag:
                return None
            gp, gt = g._p, g._t
            if type(gp) is not np.ndarray or type(gt) is not np.ndarray:
                return None
        elif type(g) is np.ndarray:
            gp, gt = g, None
        else:
            return None
        if gp.shape[0] != 1 or gp.size < backend.SMALL:
            return None
        xs, ts, k = [], [], None if gt is None else gt.shape[0]
        for v in values:
            if type(v) is Dual:
                if v._tag != tag or type(v._p) is not np.ndarray or type(v._t) is not np.ndarray:
                    return None
                if k is None:
                    k = v._t.shape[0]
                elif v._t.shape[0] != k:
                    return None
                xs.append(v._p)
                ts.append(v._t)
            elif isinstance(v, Active):
                return None
            else:
                xs.append(v)
                ts.append(None)
        dtype = float_dtype(xs + [gp])
        if k is None or dtype.char not in "fd":  # (the kernels are real-only, float32/float64)
            return None
        outs = backend.fused_hvp(rule, xs, ts, gp[0], None if gt is None else gt[:, 0], needed, dtype)
        return [None if o is None else Dual.make(o[0][None], o[1][:, None], tag, self._single) for o in outs]

    def pull_into(self, buf, op, shapes, params):
        """Pull this cotangent (one reverse lane axis, a backward sweep's adjoint) through the
        indexing op ``op`` (one with ``accumulate``; ``shapes``, ``params`` as recorded): with
        ``buf`` None, a new Dual of its transpose, whose arrays nothing else holds (the sweep
        may add into them); else added into ``buf``'s primal and lanes in place, and ``buf``
        returned.  None where this does not apply (nested or device values, another tag, lane
        count or dtype); the sweep then adds as usual."""
        p, t = self._p, self._t
        if type(p) is not np.ndarray or type(t) is not np.ndarray:
            return None
        b = params["batch"]
        if buf is None:
            (bp,) = op.backward(shapes, p, params, [True])
            (bt,) = op.backward(shapes, t, {**params, "batch": b + 1}, [True])
            if type(bp) is not np.ndarray or type(bt) is not np.ndarray:
                return None
            return Dual.make(bp, bt, self._tag, self._single)
        if type(buf) is not Dual or buf._tag != self._tag:
            return None
        bp, bt = buf._p, buf._t
        if (type(bp) is not np.ndarray or type(bt) is not np.ndarray or bp.dtype != p.dtype or bt.dtype != t.dtype
                or bt.shape[:2] != t.shape[:2] or not (bp.flags.c_contiguous and bt.flags.c_contiguous)):
            return None
        op.accumulate(bp, p, shapes=shapes, **{**params, "batch": b + 1})
        op.accumulate(bt, t, shapes=shapes, **{**params, "batch": b + 2})
        return buf

    def _process(self, prim, args, params):
        ps, ts, single = self._split(args)
        device.locate(ps, prim.name)
        y, ydot = prim.jvp(ps, ts, params)
        return Dual.make(y, ydot, self._tag, single)
