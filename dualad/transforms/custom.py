"""User-defined derivatives: ``custom_jvp`` and ``custom_vjp`` (JAX's names and meanings).

A call of a custom function on active values binds one primitive whose operands are the leaves
of the differentiable arguments and whose output is the function's output (its leaves packed
into one flat array when there are several, unpacked again by the caller):

- **custom_jvp**, forward mode: the user's ``jvp(primals, tangents)`` once per tangent lane.
  Reverse mode *linearises*: the ``jvp`` runs once with its tangents as leaves of a fresh tape,
  which records the tangent output as a linear function of them; the backward sweep pulls
  cotangents through that tape, i.e. applies the transpose of ``t ↦ jvp(primals, t)[1]``.  The
  primal computations inside the ``jvp`` run on the older levels' values, so they differentiate
  it in turn (every nesting order works when the ``jvp`` is itself differentiable).
- **custom_vjp**, reverse mode: ``fwd`` when recording, ``bwd`` once per cotangent lane in the
  backward sweep (on active residuals and cotangents when nested, so reverse-over-reverse and
  forward-over-reverse differentiate ``bwd``).  Forward mode through it raises, as in JAX.

Neither kind may close over a value active at the level that differentiates it (pass such a
value as an argument); that raises, naming the function.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from ..core import device
from ..core.dispatch import Active, strip
from ..reverse.tape import Tape
from ..reverse.variable import Variable
from ..rules.base import Primitive
from .pytree import describe, flatten_up_to, is_leaf, leaf_paths, tree_flatten, tree_unflatten

__all__ = ["custom_jvp", "custom_vjp", "CustomCall", "shape_of", "zeros_of", "all_leaves", "pack_leaves", "CustomFunction", "CustomOp"]


def shape_of(x) -> tuple:
    """The shape of an array, active value or number."""
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def zeros_of(x):
    """Plain zeros of ``x``'s shape and float dtype, where its innermost value lives."""
    p = strip(x)
    dt = getattr(p, "dtype", np.result_type(p))
    return device.zeros(shape_of(x), dt if dt.kind in "fc" else np.float64, p)


def all_leaves(xs: list) -> bool:
    """Whether each of ``xs`` is a leaf or None (not a container where a leaf belongs)."""
    return all(x is None or is_leaf(x) for x in xs)


def _name(f) -> str:
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)


class CustomCall:
    """One call of a custom function on active values (the primitive's parameter): how to
    rebuild the arguments from the operands, the output's structure once known, and the level
    (tag) that differentiates the call."""

    __slots__ = ("rule", "static", "in_def", "tag", "out_def", "shapes", "dtypes")

    def __init__(self, rule, static: dict, in_def, tag: int):
        self.rule, self.static, self.in_def, self.tag = rule, static, in_def, tag
        self.out_def = self.shapes = self.dtypes = None

    def __repr__(self) -> str:
        return f"<{type(self.rule).__name__} {self.rule.name}>"

    def diff_args(self, leaves) -> tuple:
        """The differentiable arguments (a tuple of subtrees) with ``leaves`` in them."""
        return tree_unflatten(self.in_def, list(leaves))

    def args(self, leaves) -> list | tuple:
        """Every positional argument: the static ones in their places, the others rebuilt."""
        if not self.static:
            return self.diff_args(leaves)
        dyn = iter(self.diff_args(leaves))
        n = len(self.static) + len(self.in_def[2])
        return [self.static[i] if i in self.static else next(dyn) for i in range(n)]

    def nondiff(self) -> list:
        return [self.static[i] for i in sorted(self.static)]

    def check_level(self, leaves, what: str) -> None:
        for x in leaves:
            if isinstance(x, Active) and x._tag == self.tag:
                raise TypeError(
                    f"{self.rule.kind} function {self.rule.name}: its {what} depends on a value that is being "
                    "differentiated but is not an argument (the function or its rule closes over it); pass that "
                    "value as an argument instead"
                )

    def pack(self, o_def, leaves: list):
        """The output leaves as the primitive's one output; remembers their structure."""
        if self.out_def is None:
            self.out_def, self.shapes = o_def, [shape_of(x) for x in leaves]
            self.dtypes = [np.dtype(getattr(x, "dtype", np.result_type(strip(x)))) for x in leaves]
        elif o_def != self.out_def or [shape_of(x) for x in leaves] != self.shapes:
            raise ValueError(
                f"{self.rule.kind} function {self.rule.name}: its output changed structure between calls "
                f"({describe(self.out_def)} with shapes {self.shapes}, now {describe(o_def)})"
            )
        return pack_leaves(leaves)

    def unpack(self, y) -> list:
        """The output leaves from the primitive's output ``y`` (or a cotangent of it)."""
        if len(self.shapes) == 1:
            return [y]
        out, off = [], 0
        for shape, dt in zip(self.shapes, self.dtypes):
            size = int(np.prod(shape, dtype=np.int64))
            part = np.reshape(y[off: off + size], shape)
            out.append(part if part.dtype == dt or dt.kind not in "fc" else part.astype(dt))
            off += size
        return out


def pack_leaves(leaves: list):
    """One array from output leaves: the leaf itself, or their ravelled concatenation."""
    if len(leaves) == 1:
        x = leaves[0]
        return x if isinstance(x, Active) or hasattr(x, "shape") else np.asarray(x, dtype=np.result_type(x, np.float64))
    if not leaves:
        return np.zeros(0)
    return np.concatenate([np.ravel(x) for x in leaves])


def _call_rule(rule, args, kwargs):
    """Positional arguments of a call (keywords resolved by ``rule.fun``'s signature), checked."""
    if kwargs:
        try:
            bound = inspect.signature(rule.fun).bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{rule.kind} function {rule.name}: {e}") from None
        bound.apply_defaults()
        if bound.kwargs:
            raise TypeError(f"{rule.kind} function {rule.name}: keyword-only arguments are not supported; pass them positionally")
        args = bound.args
    for i in rule.nondiff_argnums:
        if i >= len(args):
            raise TypeError(f"{rule.kind} function {rule.name}: nondiff_argnums has {i} but the call has {len(args)} arguments")
        if any(isinstance(x, Active) for x in tree_flatten(args[i])[0]):
            raise TypeError(
                f"{rule.kind} function {rule.name}: argument {i} is in nondiff_argnums but is being differentiated; "
                "remove it from nondiff_argnums or pass it a constant (dualad.stop_gradient)"
            )
    return tuple(args)


class CustomFunction:
    """What custom_jvp and custom_vjp share: the wrapped function, the static arguments, and a
    call that binds the primitive when an argument is active."""

    kind = "custom"
    op: Primitive

    def __init__(self, fun, nondiff_argnums=()):
        if not callable(fun):
            raise TypeError(f"{self.kind}(f) needs a callable f, got {fun!r:.60}")
        self.fun = fun
        nums = (nondiff_argnums,) if isinstance(nondiff_argnums, (int, np.integer)) else nondiff_argnums
        self.nondiff_argnums = tuple(sorted(int(i) for i in nums))
        self.name = _name(fun)
        functools.update_wrapper(self, fun)

    def _ready(self) -> None:
        raise NotImplementedError

    def direct(self, owner) -> bool:
        """Whether a call whose newest active argument is ``owner`` just calls the function."""
        return False

    def __call__(self, *args, **kwargs):
        self._ready()
        if kwargs or self.nondiff_argnums:
            args = _call_rule(self, args, kwargs)
            static = {i: args[i] for i in self.nondiff_argnums}
            leaves, in_def = tree_flatten(tuple(a for i, a in enumerate(args) if i not in static))
        else:
            static = {}
            leaves, in_def = tree_flatten(args)
        owner = None
        for x in leaves:
            if isinstance(x, Active) and (owner is None or x._tag > owner._tag):
                owner = x
        if owner is None:
            out = self.fun(*args)
            for x in tree_flatten(out)[0]:
                if isinstance(x, Active):
                    CustomCall(self, static, in_def, x._tag).check_level([x], "output")
            return out
        if self.direct(owner):
            return self.fun(*args)
        call = CustomCall(self, static, in_def, owner._tag)
        y = self.op.bind(*leaves, call=call)
        return y if call.out_def is None else tree_unflatten(call.out_def, call.unpack(y))

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)


# --------------------------------------------------------------------------------------------
# custom_jvp


def _run_jvp(call: CustomCall, primals: list, tangents: list):
    """The user's jvp on these leaves: (primal output leaves, their structure, tangent output
    leaves with None for a zero), checked against each other."""
    rule = call.rule
    res = rule.jvp_rule(*call.nondiff(), call.diff_args(primals), call.diff_args(tangents))
    if not isinstance(res, (tuple, list)) or len(res) != 2:
        raise TypeError(
            f"custom_jvp function {rule.name}: the jvp rule must return a pair (primal_out, tangent_out), got "
            f"{type(res).__name__}"
        )
    o_leaves, o_def = tree_flatten(res[0])
    d_leaves = flatten_up_to(o_def, res[1])
    if d_leaves is None or not all_leaves(d_leaves):
        raise TypeError(
            f"custom_jvp function {rule.name}: the jvp rule's tangent output has structure "
            f"{describe(tree_flatten(res[1])[1])}, its primal output {describe(o_def)}; they must match"
        )
    for path, o, d in zip(leaf_paths(o_def, "out"), o_leaves, d_leaves):
        if d is not None and shape_of(d) != shape_of(o):
            raise ValueError(
                f"custom_jvp function {rule.name}: the jvp rule's tangent {path.replace('out', 'tangent_out', 1)} has "
                f"shape {shape_of(d)}, its primal {path} has shape {shape_of(o)}"
            )
    call.check_level(o_leaves, "primal output")
    call.check_level(d_leaves, "tangent output")
    return o_leaves, o_def, d_leaves


def _tangents_packed(call: CustomCall, o_leaves, d_leaves):
    return pack_leaves([zeros_of(o) if d is None else d for o, d in zip(o_leaves, d_leaves)])


class CustomOp(Primitive):
    """A primitive whose parameter is a :class:`CustomCall`: on plain values, the function."""

    def impl(self, *leaves, call):
        o_leaves, o_def = tree_flatten(call.rule.fun(*call.args(leaves)))
        return call.pack(o_def, o_leaves)

    def label(self, params: dict) -> str:
        """``custom_vjp[f]``: the op and the function (in tape listings)."""
        return f"{self.name}[{params['call'].rule.name}]"


class CustomJVPOp(CustomOp):
    """The primitive of a custom_jvp call (see the module docstring)."""

    def __init__(self):
        super().__init__("custom_jvp")

    def jvp(self, primals, tangents, params):
        call = params["call"]
        k = next(t.shape[0] for t in tangents if t is not None)
        y, lanes = None, []
        for j in range(k):
            ts = [zeros_of(p) if t is None else t[j] for p, t in zip(primals, tangents)]
            o_leaves, o_def, d_leaves = _run_jvp(call, primals, ts)
            if y is None:
                y = call.pack(o_def, o_leaves)
            lanes.append(_tangents_packed(call, o_leaves, d_leaves))
        return y, np.stack(lanes)

    def forward(self, primals, params):
        call = params["call"]
        tape = Tape()
        t_vars = [tape.variable(zeros_of(p)) for p in primals]
        o_leaves, o_def, d_leaves = _run_jvp(call, primals, t_vars)
        for o in o_leaves:
            if isinstance(o, Variable) and o.tape is tape:
                raise TypeError(f"custom_jvp function {call.rule.name}: the jvp rule's primal output depends on the tangents")
        y = call.pack(o_def, o_leaves)
        d = _tangents_packed(call, o_leaves, d_leaves)
        node = d.node if isinstance(d, Variable) and d.tape is tape else None
        return y, (tape, node, [v.node for v in t_vars])

    def backward(self, res, ct, params, needed):
        tape, node, leaf_nodes = res
        if node is None:
            return [None] * len(leaf_nodes)
        adj = tape.backward({node: ct}, wanted={n for n, need in zip(leaf_nodes, needed) if need})
        return [adj.get(n) if need else None for n, need in zip(leaf_nodes, needed)]


_CUSTOM_JVP = CustomJVPOp()


class custom_jvp(CustomFunction):
    """A function with a derivative rule of its own, given as a Jacobian-vector product
    (JAX's ``jax.custom_jvp``).

    Parameters
    ----------
    fun : callable
        The function; its arguments and outputs are pytrees of arrays.
    nondiff_argnums : tuple of int
        Positions of arguments that are not differentiated (functions, integers, options).  They
        come first in the rule's arguments.

    Notes
    -----
    Declare the rule with :meth:`defjvp` (also as a decorator): ``jvp(*nondiff_args, primals,
    tangents) -> (primal_out, tangent_out)``, where ``primals`` and ``tangents`` are tuples of
    the differentiable arguments, and ``tangent_out`` mirrors ``primal_out`` (a ``None`` leaf is
    a zero tangent).  Forward mode calls the rule; reverse mode transposes the map
    ``t ↦ jvp(primals, t)[1]``, so the rule must be **linear in its tangents** (as in JAX; a
    rule that is not gives wrong reverse-mode derivatives, and that is the rule's error).
    Higher derivatives differentiate the rule's own code, so it should be written with
    differentiable NumPy calls (it may call the custom function itself).  Without active
    arguments the function is called as it is.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> @ad.custom_jvp
    ... def log1pexp(x):
    ...     return np.log1p(np.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t * (1.0 - 1.0 / (1.0 + np.exp(x)))
    >>> float(ad.grad(log1pexp)(100.0))     # the naive derivative is nan here
    1.0
    >>> float(ad.jvp(log1pexp, (0.0,), (2.0,))[1])
    1.0
    """

    kind = "custom_jvp"
    op = _CUSTOM_JVP

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.jvp_rule = None

    def _ready(self) -> None:
        if self.jvp_rule is None:
            raise AttributeError(f"custom_jvp function {self.name} has no jvp rule; declare one with {self.name}.defjvp(jvp)")

    def defjvp(self, jvp):
        """Declare the rule ``jvp(*nondiff_args, primals, tangents) -> (out, out_dot)``;
        returns ``jvp`` (so it works as a decorator)."""
        if not callable(jvp):
            raise TypeError(f"custom_jvp function {self.name}: defjvp needs a callable, got {jvp!r:.60}")
        self.jvp_rule = jvp
        return jvp

    def defjvps(self, *tangent_fns):
        """Declare the rule by one function per argument, ``fn(t_i, out, *args)`` giving that
        argument's contribution to the tangent output (None: the output does not depend on it);
        the contributions are added.  No ``nondiff_argnums`` with this form."""
        if self.nondiff_argnums:
            raise TypeError(f"custom_jvp function {self.name}: defjvps does not take nondiff_argnums; use defjvp")

        def jvp(primals, tangents):
            out = self(*primals)
            terms = [fn(t, out, *primals) for fn, t in zip(tangent_fns, tangents) if fn is not None]
            o_def = tree_flatten(out)[1]
            total = [sum(ls) for ls in zip(*[flatten_up_to(o_def, term) for term in terms])]
            return out, tree_unflatten(o_def, total) if terms else tree_unflatten(o_def, [zeros_of(o) for o in tree_flatten(out)[0]])

        self.jvp_rule = jvp


# --------------------------------------------------------------------------------------------
# custom_vjp


def _run_bwd(call: CustomCall, residuals, ct, in_shapes: list) -> list:
    """The user's bwd for one cotangent lane: one cotangent (or None) per input leaf, checked."""
    rule = call.rule
    ct_tree = ct if call.out_def is None else tree_unflatten(call.out_def, call.unpack(ct))
    out = rule.bwd(*call.nondiff(), residuals, ct_tree)
    n = len(call.in_def[2])
    if isinstance(out, list):
        out = tuple(out)
    if not isinstance(out, tuple) or len(out) != n:
        got = f"a tuple of {len(out)}" if isinstance(out, tuple) else type(out).__name__
        raise TypeError(
            f"custom_vjp function {rule.name}: bwd must return a tuple with one cotangent per differentiable argument "
            f"({n}), got {got}"
        )
    leaves = flatten_up_to(call.in_def, out)
    if leaves is None or not all_leaves(leaves):
        raise TypeError(
            f"custom_vjp function {rule.name}: bwd returned cotangents of structure {describe(tree_flatten(out)[1])}; "
            f"the differentiable arguments have structure {describe(call.in_def)}"
        )
    for j, (c, shape) in enumerate(zip(leaves, in_shapes)):
        if c is not None and shape_of(c) != shape:
            path = leaf_paths(call.in_def)[j]
            i = int(path[1: path.index("]")])
            pos = sorted(set(range(n + len(call.static))) - set(call.static))[i]
            raise ValueError(
                f"custom_vjp function {rule.name}: bwd's cotangent for argument {pos}{path[path.index(']') + 1:]} has shape "
                f"{shape_of(c)}, the argument has shape {shape}"
            )
    return leaves


class CustomVJPOp(CustomOp):
    """The primitive of a custom_vjp call (see the module docstring)."""

    def __init__(self):
        super().__init__("custom_vjp")

    def jvp(self, primals, tangents, params):
        raise TypeError(
            f"can't apply forward-mode autodiff (jvp) to a custom_vjp function ({params['call'].rule.name}): use reverse "
            "mode (grad, vjp, jacrev, hessian with reverse mode inside), or give it a custom_jvp rule"
        )

    def forward(self, primals, params):
        call = params["call"]
        res = call.rule.fwd(*call.args(primals))
        if not isinstance(res, (tuple, list)) or len(res) != 2:
            raise TypeError(
                f"custom_vjp function {call.rule.name}: fwd must return a pair (output, residuals), got {type(res).__name__}"
            )
        o_leaves, o_def = tree_flatten(res[0])
        call.check_level(o_leaves, "output")
        call.check_level([res[1]] if is_leaf(res[1]) else tree_flatten(res[1])[0], "residuals")
        return call.pack(o_def, o_leaves), (res[1], [shape_of(p) for p in primals])

    def backward(self, res, ct, params, needed):
        call = params["call"]
        residuals, shapes = res
        lanes = [_run_bwd(call, residuals, ct[j], shapes) for j in range(ct.shape[0])]
        out = []
        for i, need in enumerate(needed):
            cs = [lane[i] for lane in lanes]
            if not need or all(c is None for c in cs):
                out.append(None)
                continue
            cs = [device.zeros(shapes[i], ct.dtype, strip(ct)) if c is None else c for c in cs]
            out.append(np.stack(cs) if len(cs) > 1 else cs[0][None])
        return out


_CUSTOM_VJP = CustomVJPOp()


class custom_vjp(CustomFunction):
    """A function with a reverse-mode rule of its own (JAX's ``jax.custom_vjp``): a forward
    pass that saves residuals, and a backward pass that turns the output's cotangent into the
    arguments' cotangents (a vector-Jacobian product).

    Parameters
    ----------
    fun : callable
        As for :class:`custom_jvp`.
    nondiff_argnums : tuple of int
        As for :class:`custom_jvp`; ``bwd`` takes these arguments first, then the residuals.

    Notes
    -----
    Declare the rule with :meth:`defvjp`: ``fwd(*args) -> (out, residuals)`` computes the
    output and whatever the backward pass needs (any pytree); ``bwd(*nondiff_args, residuals,
    ct) -> tuple`` returns one cotangent per differentiable argument (mirroring it; ``None``
    for a zero), given the output's cotangent ``ct`` (zeros for outputs nothing used).  Reverse
    mode calls ``fwd`` while recording and ``bwd`` in the backward sweep, once per cotangent
    row; nested reverse or forward-over-reverse derivatives differentiate ``bwd``.  Forward mode
    through a custom_vjp function (``jvp``, ``jacfwd``, Hessians with forward mode inside)
    raises, as in JAX: give it a :class:`custom_jvp` rule for that.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> clip_gradient = ad.custom_vjp(lambda x: x)
    >>> def fwd(x):
    ...     return x, None
    >>> def bwd(res, g):
    ...     return (np.clip(g, -1.0, 1.0),)
    >>> clip_gradient.defvjp(fwd, bwd)
    >>> ad.grad(lambda x: np.sum(5.0 * clip_gradient(x)))(np.array([1.0, 2.0]))
    array([1., 1.])
    """

    kind = "custom_vjp"
    op = _CUSTOM_VJP

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.fwd = self.bwd = None

    def _ready(self) -> None:
        if self.fwd is None:
            raise AttributeError(f"custom_vjp function {self.name} has no rule; declare one with {self.name}.defvjp(fwd, bwd)")

    def defvjp(self, fwd, bwd) -> None:
        """Declare the rule: ``fwd(*args) -> (out, residuals)`` and
        ``bwd(*nondiff_args, residuals, ct) -> tuple`` of cotangents."""
        if not callable(fwd) or not callable(bwd):
            raise TypeError(f"custom_vjp function {self.name}: defvjp(fwd, bwd) needs two callables")
        self.fwd, self.bwd = fwd, bwd
