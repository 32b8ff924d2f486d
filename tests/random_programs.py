"""Random NumPy programs for the differential tests (``tests/test_differential.py``).

A program is a short register machine over 1-3 array arguments ``x0, x1, x2`` of random shapes
(0-d to 3-d, size-1 axes, shapes that broadcast against each other).  Each step reads one or two
registers and writes a new one with plain NumPy code: an elementwise rule drawn from the rule
table (``dualad.rules.RULES``), a structural op (indexing, item assignment, reshapes, reductions,
products, concatenation, ``where``, ``sort`` ...), or a broadcasting combination with another
register or a constant.  Registers that nothing reads are folded into one scalar output.

The same program runs on plain float64/float32 arrays (finite differences, the reference
value) and on every kind of active value, so forward, reverse and nested modes can be compared
against each other and against finite differences.

Domains.  A rule that is smooth only on part of the line gets its input squashed into the
rule's declared domain, ``sq(v, lo, hi) = mid + 0.45 (hi - lo) tanh(v)``.  A rule with a kink or
a jump on its domain (abs, relu, sign, floor, ..., maximum, hypot, clip) and the structural ops
with one (max/min reductions, sort, ``where``, std/norm at 0) are applied as written, but only
where every element is at least ``DELTA`` from the kink at the generated point: the generator
computes that margin on the actual values and draws another op when it is too small.  Finite
differences (step 1e-6) then never straddle a kink.

``repr(program)`` is a readable listing, printed by hypothesis when a property fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from helpers import TABLE_RULES as RULES  # dualad's own rules (SciPy's: test_rule_sweep)
from hypothesis import assume, event
from hypothesis import strategies as st

import dualad as ad

DELTA = 0.02  # distance from a kink, in the units of the value at the kink
MAX_SIZE = 36  # elements per intermediate value
MAX_ABS = 40.0  # magnitude of intermediate values
MAX_STEPS = 7

# --- the rule table, classified -----------------------------------------------------------------


def _dist_int(x):
    return np.abs(x - np.round(x))


#: Rules whose domain (``rule.domain``) contains a non-differentiable point: the distance from it,
#: computed on the rule's (plain) inputs.  The generator keeps it >= DELTA.
KINKS: dict[str, Callable] = {
    "absolute": lambda x: np.abs(x),
    "fabs": lambda x: np.abs(x),
    "copysign": lambda x, y: np.minimum(np.abs(x), np.abs(y)),
    "relu": lambda x: np.abs(x),
    "sign": lambda x: np.abs(x),
    "angle": lambda x: np.abs(x),
    "floor": _dist_int,
    "ceil": _dist_int,
    "trunc": _dist_int,
    "rint": lambda x: np.abs(np.abs(x - np.floor(x)) - 0.5),
    "maximum": lambda x, y: np.abs(x - y),
    "minimum": lambda x, y: np.abs(x - y),
    "fmax": lambda x, y: np.abs(x - y),
    "fmin": lambda x, y: np.abs(x - y),
    "hypot": lambda x, y: np.hypot(x, y),
    "clip": lambda x, lo, hi: np.minimum(np.abs(x - lo), np.abs(x - hi)),
}
#: Rules whose non-differentiable point lies outside their declared domain: used through ``sq``.
KINK_OUTSIDE_DOMAIN = {"sqrt", "cbrt", "power", "arctan2", "fmod", "remainder", "strong_product"}  # (the last: at inf/NaN)
#: Inputs that may be fed any value (smooth and slowly growing everywhere); others go through
#: ``sq`` into the rule's domain.  Kinked rules take raw inputs too (their margin is checked).
RAW_INPUTS = {
    "add": (True, True), "subtract": (True, True), "multiply": (True, True), "divide": (True, False),
    "negative": (True,), "positive": (True,), "square": (True,), "sin": (True,), "cos": (True,),
    "tanh": (True,), "arctan": (True,), "arcsinh": (True,), "sigmoid": (True,), "softplus": (True,),
    "deg2rad": (True,), "logaddexp": (True, True), "logaddexp2": (True, True),
}


def _rule_callable(rule):
    """The public spelling of a rule: the NumPy ufunc, ``np.clip``, or ``dualad.<name>``."""
    if rule.ufunc is not None:
        return rule.ufunc, f"np.{rule.ufunc.__name__}"
    if rule.function is not None:  # np.clip, np.sinc: NumPy functions declared as rules
        return rule.function, f"np.{rule.function.__name__}"
    return getattr(ad, rule.name), f"ad.{rule.name}"


UNARY_RULES = sorted(name for name, r in RULES.items() if r.nin == 1)
BINARY_RULES = sorted(name for name, r in RULES.items() if r.nin == 2)


def unclassified_rules() -> list[str]:
    """Rules that declare a non-differentiable point but have no kink locus here."""
    return [n for n, r in RULES.items() if r.nondiff and n not in KINKS and n not in KINK_OUTSIDE_DOMAIN]


# --- programs -------------------------------------------------------------------------------------


def sq(v, lo, hi):
    """Squash any value into the open interval (lo, hi), smoothly."""
    return 0.5 * (lo + hi) + 0.45 * (hi - lo) * np.tanh(v)


def _fmt(c) -> str:
    c = np.asarray(c)
    if c.ndim == 0:
        return f"{float(c):.4g}"
    if c.size <= 6:
        return "np.array(" + np.array2string(c, precision=3, separator=", ").replace("\n", "") + ")"
    return f"<const {c.dtype} {c.shape}>"


@dataclass
class Step:
    op: str  # the op family, for statistics
    ins: tuple  # registers read
    fn: Callable  # fn(*registers) -> value, for plain and active values alike
    text: str  # the right-hand side, readable


@dataclass
class Program:
    shapes: list  # argument shapes
    seed: int  # argument values: default_rng(seed).uniform(-1.5, 1.5, shape), in order
    steps: list = field(default_factory=list)
    terms: list = field(default_factory=list)  # (register, fn, text): the output is their sum
    argnums: object = 0  # int or tuple, for first-order transforms
    hess_arg: int = 0  # the argument of the Hessian checks
    mixed_arg: int | None = None  # a second argument for the mixed Hessian block

    @property
    def nargs(self) -> int:
        return len(self.shapes)

    def args(self, dtype=np.float64):
        rng = np.random.default_rng(self.seed)
        return [rng.uniform(-1.5, 1.5, size=s).astype(dtype) for s in self.shapes]

    def __call__(self, *args):
        regs = list(args)
        for s in self.steps:
            regs.append(s.fn(*[regs[i] for i in s.ins]))
        out = 0.0
        for reg, fn, _ in self.terms:
            out = out + fn(regs[reg])
        return out

    def _repr_pretty_(self, p, cycle):  # hypothesis prints failing examples with this
        p.text(repr(self))

    def __repr__(self) -> str:
        head = ", ".join(f"x{i}: {s}" for i, s in enumerate(self.shapes))
        lines = [f"program({head})   # x_i = default_rng({self.seed}).uniform(-1.5, 1.5, shape_i) in turn"]
        for i in range(self.nargs):
            lines.append(f"  v{i} = x{i}")
        for k, s in enumerate(self.steps):
            lines.append(f"  v{self.nargs + k} = {s.text}")
        lines.append("  out = " + " + ".join(t.replace("{}", f"v{r}") for r, _, t in self.terms))
        lines.append(f"  argnums={self.argnums}, hessian w.r.t. x{self.hess_arg}"
                     + (f", mixed block with x{self.mixed_arg}" if self.mixed_arg is not None else ""))
        lines.append("  where sq(v, lo, hi) = (lo + hi)/2 + 0.45 (hi - lo) tanh(v)")
        return "\n".join(lines)


class _Gen:
    """Builds one program step by step, evaluating every step on the plain float64 values."""

    def __init__(self, draw, rng, args, force=None):
        self.draw = draw
        self.force = force  # an op family every choice takes when it can
        self.rng = rng
        self.vals = [np.asarray(a) for a in args]
        self.nargs = len(args)
        self.reads = [0] * len(args)
        self.deps = [frozenset([i]) for i in range(len(args))]  # the arguments each register reads
        self.steps: list[Step] = []

    def choose(self, options: list):
        """One of ``options``: the forced family if it is one of them, else a uniform one.

        Op choices come from the seeded generator, not from hypothesis, which draws the
        first entry of a list far more often than the others (a quarter of all unary rules
        were ``absolute``, the first in alphabetical order).
        """
        if self.force in options:
            return self.force
        return self.uniform(options)

    def uniform(self, options: list):
        return options[int(self.rng.integers(len(options)))]

    # registers
    def name(self, i: int) -> str:
        return f"v{i}"

    def pick(self, avoid=None) -> int:
        """A register, preferring the unread ones and the newest."""
        n = len(self.vals)
        unread = [i for i in range(n) if self.reads[i] == 0 and i != avoid]
        if unread and self.draw(st.booleans()):
            return self.draw(st.sampled_from(unread))
        choices = [i for i in range(n) if i != avoid] or [0]
        return self.draw(st.sampled_from(choices[::-1]))

    def const(self, shape, lo=-1.0, hi=1.0):
        return self.rng.uniform(lo, hi, size=shape)

    def add(self, step: Step) -> bool:
        """Evaluate ``step`` on the plain values; keep it if its value is small, finite, sized."""
        with np.errstate(all="ignore"):
            try:
                y = np.asarray(step.fn(*[self.vals[i] for i in step.ins]))
            except (ValueError, IndexError) as e:  # a builder bug, not a dualad one: show it
                raise AssertionError(f"generator produced an invalid step {step.text}: {e}") from e
        if y.dtype.kind != "f" or y.size == 0 or y.size > MAX_SIZE or y.ndim > 4:
            return False
        if not np.all(np.isfinite(y)) or np.max(np.abs(y)) > MAX_ABS:
            return False
        for i in step.ins:
            self.reads[i] += 1
        self.deps.append(frozenset().union(*[self.deps[i] for i in step.ins]))
        self.vals.append(y)
        self.reads.append(0)
        self.steps.append(step)
        event(f"op: {step.op}")
        return True


def _shape_partner(draw, shape, max_lead=1):
    """A shape that broadcasts against ``shape``: a suffix, some axes set to 1, maybe a leading axis."""
    nd = len(shape)
    keep = draw(st.sampled_from([nd, nd, nd] + list(range(nd))))  # mostly all the axes
    suffix = [d if draw(st.sampled_from([True, True, True, False])) else 1 for d in shape[nd - keep:]]
    lead = []
    if keep == nd and nd < 3 and max_lead and draw(st.integers(0, 3)) == 0:
        lead = [draw(st.integers(1, 2))]
    return tuple(lead + suffix)


def _fit(b, target: tuple):
    """Reduce ``b`` (mean over axes) until it broadcasts against ``target``; returns (fn, text)."""
    bs = tuple(np.shape(b))
    axes = []
    for k in range(1, min(len(bs), len(target)) + 1):
        if bs[-k] != 1 and target[-k] != 1 and bs[-k] != target[-k]:
            axes.append(len(bs) - k)
    if len(bs) > 3:
        axes = list(range(len(bs)))
    if not axes:
        return (lambda v: v), "{}"
    ax = tuple(sorted(axes))
    return (lambda v: np.mean(v, axis=ax, keepdims=True)), f"np.mean({{}}, axis={ax}, keepdims=True)"


def _regather(g: _Gen, size: int, shape: tuple):
    """Build any ``shape`` from a value of ``size`` elements: ravel, gather (repeats allowed), reshape."""
    idx = g.rng.integers(0, size, size=int(np.prod(shape, dtype=int)))
    return (lambda v: np.reshape(np.ravel(v)[idx], shape)), f"np.ravel({{}})[{idx.tolist()}].reshape({shape})"


def _margin_ok(m) -> bool:
    m = np.asarray(m)
    return m.size == 0 or float(np.min(m)) >= DELTA


# --- step builders: each returns a Step or None (not applicable here) -----------------------------


def b_rule(g: _Gen):
    """An elementwise rule from the table, inputs raw or squashed into its domain."""
    if g.force in RULES:
        name = g.force
    else:
        nin = g.uniform([1, 1, 1, 2, 2, 3])
        name = "clip" if nin == 3 else g.uniform(UNARY_RULES if nin == 1 else BINARY_RULES)
    nin = RULES[name].nin
    rule = RULES[name]
    fn, spelled = _rule_callable(rule)
    a = g.pick()
    regs = [a]
    ins_fns, ins_txt = [lambda v: v], ["{}"]
    if nin >= 2:
        shape_a = g.vals[a].shape
        if g.draw(st.integers(0, 3)) == 0:  # a constant operand of a broadcasting shape
            c = g.const(_shape_partner(g.draw, shape_a))
            regs.append(None)
            ins_fns.append(lambda v, c=c: c)
            ins_txt.append(_fmt(c))
        else:
            b = g.pick(avoid=a)
            f, t = _fit(g.vals[b], shape_a)
            regs.append(b)
            ins_fns.append(f)
            ins_txt.append(t)
    if nin == 3:  # clip(a, lo, hi): lo from a register or constant, hi a constant
        lo_reg = regs[1]
        lo_f = ins_fns[1]
        ins_fns[1] = lambda v, lo_f=lo_f: sq(lo_f(v), -1.2, -0.1)
        ins_txt[1] = f"sq({ins_txt[1]}, -1.2, -0.1)"
        hi = float(g.rng.uniform(0.1, 1.2))
        if g.draw(st.integers(0, 4)) == 0:
            hi = None
        regs = [a, lo_reg]
    else:
        raw = RAW_INPUTS.get(name, (False,) * nin)
        for i in range(nin):
            if not raw[i] and name not in KINKS:
                lo, hi_ = rule.domain[i]
                pad = 0.05 * (hi_ - lo)
                lo, hi_ = lo + pad, hi_ - pad
                f0 = ins_fns[i]
                ins_fns[i] = lambda v, f0=f0, lo=lo, hi_=hi_: sq(f0(v), lo, hi_)
                ins_txt[i] = f"sq({ins_txt[i]}, {lo:.3g}, {hi_:.3g})"

    reg_ins = tuple(r for r in regs if r is not None)

    def inputs(vals):
        it = iter(vals)
        return [f(next(it) if r is not None else None) for r, f in zip(regs, ins_fns)]

    if nin == 3:
        def step_fn(*vals):
            x, lo = inputs(vals)
            return fn(x, lo, hi)
        hi_txt = "None" if hi is None else f"{hi:.3g}"
        text = f"np.clip({ins_txt[0]}, {ins_txt[1]}, {hi_txt})"
    else:
        def step_fn(*vals):
            return fn(*inputs(vals))
        text = f"{spelled}({', '.join(ins_txt)})"
    names = iter(reg_ins)
    text = text.replace("{}", "\0")
    while "\0" in text:
        text = text.replace("\0", g.name(next(names)), 1)

    if name in KINKS:
        with np.errstate(all="ignore"):
            xs = inputs([g.vals[r] for r in reg_ins])
            if nin == 3:
                xs = [xs[0], xs[1], np.inf if hi is None else hi]
            if not _margin_ok(KINKS[name](*xs)):
                return None
    return Step(f"rule {name}", reg_ins, step_fn, text)


def b_reshape(g: _Gen):
    a = g.pick()
    n = g.vals[a].size
    kind = g.choose(["reshape", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze"])
    nd = g.vals[a].ndim
    if kind == "reshape":
        dims = []
        m = n
        while m > 1 and len(dims) < 2:
            ds = [d for d in range(1, m + 1) if m % d == 0]
            d = g.draw(st.sampled_from(ds))
            dims.append(d)
            m //= d
        dims.append(m)
        if n == 1 and g.draw(st.booleans()):
            dims = []
        dims = g.draw(st.permutations(dims))
        shape = tuple(dims)
        if g.draw(st.booleans()) and dims:
            shape_arg = tuple(-1 if i == 0 else d for i, d in enumerate(dims))
            return Step("reshape", (a,), lambda v: v.reshape(shape_arg), f"{{}}.reshape({shape_arg})".format(g.name(a)))
        return Step("reshape", (a,), lambda v: np.reshape(v, shape), f"np.reshape(v{a}, {shape})")
    if kind == "transpose":
        if nd < 2:
            return None
        perm = tuple(g.draw(st.permutations(range(nd))))
        if nd == 2 and g.draw(st.booleans()):
            return Step("transpose", (a,), lambda v: v.T, f"v{a}.T")
        return Step("transpose", (a,), lambda v: np.transpose(v, perm), f"np.transpose(v{a}, {perm})")
    if kind == "swapaxes":
        if nd < 2:
            return None
        i, j = g.draw(st.integers(-nd, nd - 1)), g.draw(st.integers(-nd, nd - 1))
        return Step("swapaxes", (a,), lambda v: np.swapaxes(v, i, j), f"np.swapaxes(v{a}, {i}, {j})")
    if kind == "moveaxis":
        if nd < 2:
            return None
        i, j = g.draw(st.integers(0, nd - 1)), g.draw(st.integers(-nd, nd - 1))
        return Step("moveaxis", (a,), lambda v: np.moveaxis(v, i, j), f"np.moveaxis(v{a}, {i}, {j})")
    if kind == "expand_dims":
        if nd >= 3:
            return None
        ax = g.draw(st.integers(-nd - 1, nd))
        return Step("expand_dims", (a,), lambda v: np.expand_dims(v, ax), f"np.expand_dims(v{a}, {ax})")
    ones = [i for i, d in enumerate(g.vals[a].shape) if d == 1]
    if not ones:
        return None
    ax = g.draw(st.sampled_from(ones))
    return Step("squeeze", (a,), lambda v: np.squeeze(v, axis=ax), f"np.squeeze(v{a}, axis={ax})")


def _draw_slice(g: _Gen, d: int):
    start = g.draw(st.one_of(st.none(), st.integers(-d, d - 1)))
    stop = g.draw(st.one_of(st.none(), st.integers(-d, d)))
    step = g.draw(st.sampled_from([None, 1, 2, -1, -2]))
    return slice(start, stop, step)


def _fmt_index(index) -> str:
    parts = []
    for ix in index:
        if isinstance(ix, slice):
            s = ("" if ix.start is None else str(ix.start)) + ":" + ("" if ix.stop is None else str(ix.stop))
            if ix.step is not None:
                s += f":{ix.step}"
            parts.append(s)
        elif ix is None:
            parts.append("None")
        elif ix is Ellipsis:
            parts.append("...")
        elif isinstance(ix, np.ndarray) and ix.dtype == bool:
            parts.append(f"mask{ix.astype(int).tolist()}")
        elif isinstance(ix, np.ndarray):
            parts.append(f"np.array({ix.tolist()})")
        else:
            parts.append(str(ix))
    return "[" + ", ".join(parts) + "]"


def _draw_index(g: _Gen, shape, advanced: bool):
    """A basic index (slices, ints, None, ...) or an advanced one (integer arrays or a mask)."""
    nd = len(shape)
    if not advanced:
        index = []
        for d in shape:
            kind = g.draw(st.sampled_from(["slice", "slice", "int", "all"]))
            if kind == "int":
                index.append(g.draw(st.integers(-d, d - 1)))
            elif kind == "slice":
                index.append(_draw_slice(g, d))
            else:
                index.append(slice(None))
        if index and g.draw(st.integers(0, 3)) == 0:
            index.insert(g.draw(st.integers(0, len(index))), None)
        if len(index) >= 2 and g.draw(st.integers(0, 3)) == 0:
            index = [Ellipsis] + index[g.draw(st.integers(1, len(index) - 1)):]
        return tuple(index)
    kind = g.draw(st.sampled_from(["axis", "pair", "mask"]))
    if kind == "mask" or nd == 1 and kind == "pair":
        mask = g.rng.random(shape) < 0.6
        if not mask.any():
            mask.flat[0] = True
        return (mask,)
    if kind == "pair" and nd >= 2:
        k = g.draw(st.integers(1, 4))
        return (g.rng.integers(-shape[0], shape[0], size=k), g.rng.integers(0, shape[1], size=k))
    ax = g.draw(st.integers(0, nd - 1))
    k = g.draw(st.integers(1, 4))
    idx = g.rng.integers(-shape[ax], shape[ax], size=k if g.draw(st.booleans()) else (2, k))
    return tuple([slice(None)] * ax + [idx])


def b_index(g: _Gen):
    a = g.pick()
    shape = g.vals[a].shape
    if not shape:
        return None
    advanced = g.choose(["slice", "gather"]) == "gather"
    index = _draw_index(g, shape, advanced)
    txt = _fmt_index(index)
    return Step("gather" if advanced else "slice", (a,), lambda v: v[index], f"v{a}{txt}")


def b_setitem(g: _Gen):
    """``y = copy(a); y[index] = value`` on an active value, value from a register or constant."""
    a = g.pick()
    shape = g.vals[a].shape
    if not shape:
        return None
    advanced = g.choose(["setitem slice", "setitem gather"]) == "setitem gather"
    index = _draw_index(g, shape, advanced)
    if advanced and not (len(index) == 1 and index[0].dtype == bool):
        # NumPy does not define which write wins for repeated positions: make them unique
        pos = np.arange(int(np.prod(shape))).reshape(shape)[index]
        if len(np.unique(pos)) != pos.size:
            return None
    target = np.zeros(shape)[index].shape
    if not target or 0 in target:
        return None
    src = g.draw(st.sampled_from(["register", "constant", "scalar"]))
    txt = _fmt_index(index)
    if src == "register":
        # NumPy cannot store an active value into a plain array: the value may only depend on
        # arguments the target depends on (then the target is active whenever the value is).
        b = g.pick(avoid=a)
        if not g.deps[b] <= g.deps[a]:
            return None
        f, t = _fit(g.vals[b], target)
        vb = f(g.vals[b])
        if np.broadcast_shapes(np.shape(vb), target) != target:  # the value must not grow the slot
            f, t = (lambda v: np.mean(v)), "np.mean({})"

        def step(va, vb, f=f):
            y = np.copy(va)
            y[index] = f(vb)
            return y
        return Step("setitem", (a, b), step, f"setitem(v{a}{txt} = {t.format(f'v{b}')})")
    c = float(g.rng.uniform(-1, 1)) if src == "scalar" else g.const(_shape_partner(g.draw, target, max_lead=0))

    def step1(va):
        y = va.copy()
        y[index] = c
        return y
    return Step("setitem", (a,), step1, f"setitem(v{a}{txt} = {_fmt(c)})")


def b_copyop(g: _Gen):
    """take, tile, repeat, pad, flip, roll, diff."""
    a = g.pick()
    v = g.vals[a]
    nd, shape = v.ndim, v.shape
    kind = g.choose(["take", "tile", "repeat", "pad", "flip", "roll", "diff", "broadcast_to"])
    if kind == "broadcast_to":
        if nd >= 3:
            return None
        lead = g.draw(st.integers(1, 3))
        target = (lead,) + tuple(d if d != 1 else g.draw(st.integers(1, 3)) for d in shape)
        return Step("broadcast_to", (a,), lambda u: np.broadcast_to(u, target), f"np.broadcast_to(v{a}, {target})")
    if kind == "tile":
        reps = tuple(g.draw(st.lists(st.integers(1, 2), min_size=1, max_size=2)))
        return Step("tile", (a,), lambda u: np.tile(u, reps), f"np.tile(v{a}, {reps})")
    if nd == 0:
        return None
    ax = g.draw(st.integers(-nd, nd - 1))
    if kind == "take":
        if g.draw(st.booleans()):
            idx = g.rng.integers(0, v.size, size=g.draw(st.integers(1, 5)))
            return Step("take", (a,), lambda u: np.take(u, idx), f"np.take(v{a}, {idx.tolist()})")
        idx = g.rng.integers(-shape[ax], shape[ax], size=g.draw(st.integers(1, 4)))
        return Step("take", (a,), lambda u: np.take(u, idx, axis=ax), f"np.take(v{a}, {idx.tolist()}, axis={ax})")
    if kind == "repeat":
        if g.draw(st.booleans()):
            r = g.draw(st.integers(1, 3))
        else:
            r = g.rng.integers(0, 3, size=shape[ax])
            if not r.any():
                r[0] = 1
        return Step("repeat", (a,), lambda u: np.repeat(u, r, axis=ax), f"np.repeat(v{a}, {_fmt(r)}, axis={ax})")
    if kind == "pad":
        width = tuple((g.draw(st.integers(0, 2)), g.draw(st.integers(0, 1))) for _ in range(nd))
        cval = g.draw(st.sampled_from([0.0, 0.5]))
        return Step("pad", (a,), lambda u: np.pad(u, width, constant_values=cval),
                    f"np.pad(v{a}, {width}, constant_values={cval})")
    if kind == "flip":
        axis = g.draw(st.sampled_from([None, ax]))
        return Step("flip", (a,), lambda u: np.flip(u, axis=axis), f"np.flip(v{a}, axis={axis})")
    if kind == "roll":
        shift = g.draw(st.integers(-3, 3))
        axis = g.draw(st.sampled_from([None, ax]))
        return Step("roll", (a,), lambda u: np.roll(u, shift, axis=axis), f"np.roll(v{a}, {shift}, axis={axis})")
    if shape[ax] < 2:
        return None
    return Step("diff", (a,), lambda u: np.diff(u, axis=ax), f"np.diff(v{a}, axis={ax})")


def _draw_axes(g: _Gen, nd: int):
    if nd == 0:
        return None
    kind = g.draw(st.sampled_from(["none", "one", "tuple"]))
    if kind == "none":
        return None
    if kind == "one" or nd == 1:
        return g.draw(st.integers(-nd, nd - 1))
    return tuple(sorted(g.draw(st.sets(st.integers(0, nd - 1), min_size=1, max_size=nd))))


def _top_gap(v, axis):
    """Gap between the largest and the second largest value over ``axis`` (inf if only one)."""
    if v.ndim == 0:
        return np.inf
    axes = tuple(range(v.ndim)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    axes = tuple(a % v.ndim for a in axes)
    rest = [i for i in range(v.ndim) if i not in axes]
    w = np.transpose(v, rest + list(axes)).reshape([v.shape[i] for i in rest] + [-1])
    if w.shape[-1] < 2:
        return np.inf
    s = np.sort(w, axis=-1)
    return s[..., -1] - s[..., -2]


def b_reduce(g: _Gen):
    a = g.pick()
    v = g.vals[a]
    nd = v.ndim
    kind = g.choose(["sum", "mean", "max", "min", "prod", "var", "std", "norm", "cumsum", "cumprod", "sort",
                     "logsumexp", "method"])
    axis = _draw_axes(g, nd)
    keep = g.draw(st.booleans())
    if kind in ("sum", "mean"):
        f = np.sum if kind == "sum" else np.mean
        return Step(kind, (a,), lambda u: f(u, axis=axis, keepdims=keep), f"np.{kind}(v{a}, axis={axis}, keepdims={keep})")
    if kind == "method":
        m = g.draw(st.sampled_from(["sum", "mean", "max"]))
        if m == "max" and not _margin_ok(_top_gap(v, axis)):
            return None
        return Step(f"{m} (method)", (a,), lambda u: getattr(u, m)(axis=axis), f"v{a}.{m}(axis={axis})")
    if kind in ("max", "min"):
        if not _margin_ok(_top_gap(v if kind == "max" else -v, axis)):
            return None
        f = np.max if kind == "max" else np.min
        return Step(kind, (a,), lambda u: f(u, axis=axis, keepdims=keep), f"np.{kind}(v{a}, axis={axis}, keepdims={keep})")
    if kind == "prod":
        return Step("prod", (a,), lambda u: np.prod(sq(u, 0.5, 1.5), axis=axis, keepdims=keep),
                    f"np.prod(sq(v{a}, 0.5, 1.5), axis={axis}, keepdims={keep})")
    if kind in ("var", "std"):
        if kind == "std" and not _margin_ok(np.var(v, axis=axis)):
            return None
        f = np.var if kind == "var" else np.std
        return Step(kind, (a,), lambda u: f(u, axis=axis, keepdims=keep), f"np.{kind}(v{a}, axis={axis}, keepdims={keep})")
    if kind == "norm":
        ax = axis if isinstance(axis, int) or axis is None else None
        if not _margin_ok(np.linalg.norm(v, axis=ax)):
            return None
        return Step("norm", (a,), lambda u: np.linalg.norm(u, axis=ax), f"np.linalg.norm(v{a}, axis={ax})")
    if kind == "logsumexp":
        return Step("logsumexp", (a,), lambda u: ad.logsumexp(u, axis=axis), f"ad.logsumexp(v{a}, axis={axis})")
    ax = axis if isinstance(axis, int) or axis is None else axis[0]
    if kind == "cumsum":
        return Step("cumsum", (a,), lambda u: np.cumsum(u, axis=ax) / 3.0, f"np.cumsum(v{a}, axis={ax}) / 3")
    if kind == "cumprod":
        return Step("cumprod", (a,), lambda u: np.cumprod(sq(u, 0.5, 1.5), axis=ax),
                    f"np.cumprod(sq(v{a}, 0.5, 1.5), axis={ax})")
    # sort: keep neighbours apart so the permutation is the same under finite differences
    if nd == 0:
        return None
    sax = ax if ax is not None else g.draw(st.sampled_from([None, -1]))
    s = np.sort(v, axis=sax)
    if s.shape[-1 if sax is None else sax] > 1 and not _margin_ok(np.diff(s, axis=-1 if sax is None else sax)):
        return None
    return Step("sort", (a,), lambda u: np.sort(u, axis=sax), f"np.sort(v{a}, axis={sax})")


def b_product(g: _Gen):
    """matmul, dot, outer, einsum, tensordot, inner: the second operand built from a register."""
    a = g.pick()
    b = g.pick(avoid=a)
    va, vb = g.vals[a], g.vals[b]
    nd = va.ndim
    kind = g.choose(["matmul", "dot", "outer", "einsum", "tensordot", "inner", "gram"])
    if kind == "outer":
        return Step("outer", (a, b), lambda u, w: np.outer(u, w) / 2.0, f"np.outer(v{a}, v{b}) / 2")
    if nd == 0:
        return None
    k = va.shape[-1]
    p = g.draw(st.integers(1, 3))
    if kind == "gram":
        if nd < 2:
            return None
        return Step("matmul", (a,), lambda u: u @ np.swapaxes(u, -1, -2) / k, f"v{a} @ np.swapaxes(v{a}, -1, -2) / {k}")
    if kind in ("matmul", "dot"):
        shape = (k,) if g.draw(st.booleans()) else (k, p)
        if kind == "matmul" and nd >= 2 and len(shape) == 2 and g.draw(st.booleans()):
            batch = [1, 2] if nd == 2 else [1, va.shape[-3]]
            shape = (g.draw(st.sampled_from(batch)),) + shape  # a batch of matrices, broadcast
        f, t = _regather(g, vb.size, shape)
        if kind == "matmul":
            if nd >= 2 and g.draw(st.booleans()):  # a vector on the left
                m = va.shape[-2]
                f2, t2 = _regather(g, vb.size, (m,))
                return Step("matmul", (a, b), lambda u, w: f2(w) @ u / m, f"{t2.format(f'v{b}')} @ v{a} / {m}")
            return Step("matmul", (a, b), lambda u, w: np.matmul(u, f(w)) / k, f"np.matmul(v{a}, {t.format(f'v{b}')}) / {k}")
        return Step("dot", (a, b), lambda u, w: np.dot(u, f(w)) / k, f"np.dot(v{a}, {t.format(f'v{b}')}) / {k}")
    if kind == "inner":
        f, t = _regather(g, vb.size, (p, k))
        return Step("inner", (a, b), lambda u, w: np.inner(u, f(w)) / k, f"np.inner(v{a}, {t.format(f'v{b}')}) / {k}")
    if kind == "tensordot":
        f, t = _regather(g, vb.size, (k, p))
        return Step("tensordot", (a, b), lambda u, w: np.tensordot(u, f(w), axes=1) / k,
                    f"np.tensordot(v{a}, {t.format(f'v{b}')}, axes=1) / {k}")
    # einsum: a few spellings, with and without an ellipsis
    letters = "ijkl"[:nd]  # intermediate values have up to 4 axes
    form = g.draw(st.sampled_from(["contract", "ellipsis", "elementwise", "trace"]))
    if form == "trace":
        if nd < 2 or va.shape[-1] != va.shape[-2]:
            return None
        sub = letters[:-2] + "zz->" + letters[:-2]
        return Step("einsum", (a,), lambda u: np.einsum(sub, u), f"np.einsum('{sub}', v{a})")
    if form == "elementwise":
        f, t = _regather(g, vb.size, va.shape)
        sub = f"{letters},{letters}->{letters[::-1]}"
        return Step("einsum", (a, b), lambda u, w: np.einsum(sub, u, f(w)), f"np.einsum('{sub}', v{a}, {t.format(f'v{b}')})")
    if form == "ellipsis":
        f, t = _regather(g, vb.size, (k,))
        return Step("einsum", (a, b), lambda u, w: np.einsum("...i,i->...", u, f(w)) / k,
                    f"np.einsum('...i,i->...', v{a}, {t.format(f'v{b}')}) / {k}")
    f, t = _regather(g, vb.size, (p, k))
    sub = f"{letters},z{letters[-1]}->z{letters[:-1]}"
    return Step("einsum", (a, b), lambda u, w: np.einsum(sub, u, f(w)) / k, f"np.einsum('{sub}', v{a}, {t.format(f'v{b}')}) / {k}")


def b_join(g: _Gen):
    """concatenate, stack, where (with broadcasting)."""
    a = g.pick()
    b = g.pick(avoid=a)
    va, vb = g.vals[a], g.vals[b]
    nd = va.ndim
    kind = g.choose(["concatenate", "stack", "where", "where_nan"])
    if kind == "where":
        t = float(g.rng.uniform(-0.5, 0.5))
        if not _margin_ok(np.abs(va - t)):
            return None
        f, ft = _fit(vb, va.shape)
        if g.draw(st.booleans()):
            return Step("where", (a, b), lambda u, w: np.where(u > t, f(w), u * u),
                        f"np.where(v{a} > {t:.3g}, {ft.format(f'v{b}')}, v{a} * v{a})")
        return Step("where", (a, b), lambda u, w: np.where(u < t, 0.5, u * f(w)),
                    f"np.where(v{a} < {t:.3g}, 0.5, v{a} * {ft.format(f'v{b}')})")
    if kind == "where_nan":  # the branch not taken is NaN there: no NaN in any derivative
        if not _margin_ok(np.abs(va - 0.1)):
            return None

        def step(u):
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(u > 0.1, np.log(u) * np.sqrt(u), u)
        return Step("where", (a,), step, f"np.where(v{a} > 0.1, np.log(v{a}) * np.sqrt(v{a}), v{a})")
    if nd == 0:
        return None
    if kind == "concatenate":
        ax = g.draw(st.integers(-nd, nd - 1))
        shape = list(va.shape)
        shape[ax] = g.draw(st.integers(1, 3))
        f, t = _regather(g, vb.size, tuple(shape))
        return Step("concatenate", (a, b), lambda u, w: np.concatenate([f(w), u], axis=ax),
                    f"np.concatenate([{t.format(f'v{b}')}, v{a}], axis={ax})")
    ax = g.draw(st.integers(-nd - 1, nd))
    f, t = _regather(g, vb.size, va.shape)
    return Step("stack", (a, b), lambda u, w: np.stack([u, f(w), u], axis=ax),
                f"np.stack([v{a}, {t.format(f'v{b}')}, v{a}], axis={ax})")


def b_linalg(g: _Gen):
    """solve, inv, det, slogdet, cholesky, qr and pinv on well-conditioned matrices I + A/(2n),
    A from a register (positive definite ones from M Mᵀ).  Eigenvalues and singular values are
    left out: registers gathered with repeats build matrices whose eigenvalues repeat, where
    they have no derivative (tests/test_linalg.py covers them)."""
    a = g.pick()
    va = g.vals[a]
    n = g.draw(st.integers(1, 3))
    f, t = _regather(g, va.size, (n, n))
    eye = np.eye(n)
    kind = g.choose(["solve", "inv", "det", "slogdet", "cholesky", "qr", "pinv"])

    def mat(u):
        return eye + sq(f(u), -1.0, 1.0) / (2 * n)
    mt = f"(I{n} + sq({t.format(f'v{a}')}, -1, 1) / {2 * n})"
    if kind == "solve":
        b = g.pick(avoid=a)
        fb, tb = _regather(g, g.vals[b].size, (n,))
        return Step("solve", (a, b), lambda u, w: np.linalg.solve(mat(u), fb(w)),
                    f"np.linalg.solve({mt}, {tb.format(f'v{b}')})")
    if kind == "inv":
        return Step("inv", (a,), lambda u: np.linalg.inv(mat(u)), f"np.linalg.inv({mt})")
    if kind == "det":
        return Step("det", (a,), lambda u: np.linalg.det(mat(u)), f"np.linalg.det({mt})")
    decomposed = {
        "cholesky": (lambda u: np.linalg.cholesky(mat(u) @ mat(u).T), f"np.linalg.cholesky({mt} @ {mt}.T)"),
        "qr": (lambda u: np.linalg.qr(mat(u))[1], f"np.linalg.qr({mt})[1]"),
        "pinv": (lambda u: np.linalg.pinv(mat(u)), f"np.linalg.pinv({mt})"),
    }
    if kind in decomposed:
        fn, text = decomposed[kind]
        return Step(kind, (a,), fn, text)
    return Step("slogdet", (a,), lambda u: np.linalg.slogdet(mat(u))[1], f"np.linalg.slogdet({mt})[1]")


def b_fft(g: _Gen):
    """The FFTs, made real: ``irfft(rfft(v) * c)``, the real or imaginary part of
    ``fft``/``fftn``/``ihfft``, and ``irfft``/``hfft`` of a real register (``norm="ortho"`` keeps
    magnitudes), with ``n`` that pads or truncates."""
    a = g.pick()
    v = g.vals[a]
    if v.ndim == 0:
        return None
    ax = g.draw(st.integers(-v.ndim, -1))
    n = g.draw(st.integers(max(1, v.shape[ax] - 1), v.shape[ax] + 2))
    part = g.draw(st.sampled_from(["real", "imag"]))
    kind = g.choose(["rfft_irfft", "fft", "fftn", "irfft", "hfft", "ihfft"])
    if kind == "rfft_irfft":
        c = g.const((n // 2 + 1,) + (1,) * (-ax - 1)) * (1 + 0.5j)
        return Step("rfft_irfft", (a,), lambda u: np.fft.irfft(np.fft.rfft(u, n, axis=ax) * c, n, axis=ax),
                    f"np.fft.irfft(np.fft.rfft(v{a}, {n}, axis={ax}) * {_fmt(c)}, {n}, axis={ax})")
    if kind in ("irfft", "hfft"):
        return Step(kind, (a,), lambda u: getattr(np.fft, kind)(u, n, axis=ax, norm="ortho"),
                    f"np.fft.{kind}(v{a}, {n}, axis={ax}, norm='ortho')")
    call = {"fft": (lambda u: np.fft.fft(u, n, axis=ax, norm="ortho"), f"np.fft.fft(v{a}, {n}, axis={ax}, norm='ortho')"),
            "fftn": (lambda u: np.fft.fftn(u, norm="ortho"), f"np.fft.fftn(v{a}, norm='ortho')"),
            "ihfft": (lambda u: np.fft.ihfft(u, n, axis=ax, norm="ortho"), f"np.fft.ihfft(v{a}, {n}, axis={ax}, norm='ortho')")}
    fn, text = call[kind]
    take = getattr(np, part)
    return Step(kind, (a,), lambda u: take(fn(u)), f"np.{part}({text})")


def b_operator(g: _Gen):
    """Python operators with broadcasting between registers and constants (``+ - * / **``, unary -)."""
    a = g.pick()
    shape_a = g.vals[a].shape
    kind = g.choose(["+", "-", "*", "/", "**", "neg", "rconst"])
    if kind == "neg":
        return Step("operator", (a,), lambda u: -u, f"-v{a}")
    if kind == "rconst":  # constant on the left, broadcasting (maybe with a new leading axis)
        c = g.const(_shape_partner(g.draw, shape_a))
        return Step("operator", (a,), lambda u: c - u * c, f"{_fmt(c)} - v{a} * {_fmt(c)}")
    b = g.pick(avoid=a)
    f, t = _fit(g.vals[b], shape_a)
    tb = t.format(f"v{b}")
    if kind == "/":
        return Step("operator", (a, b), lambda u, w: u / (1.5 + np.tanh(f(w))), f"v{a} / (1.5 + np.tanh({tb}))")
    if kind == "**":
        e = g.draw(st.sampled_from([2, 3, 0.5, -1.0]))
        if e in (0.5, -1.0):
            return Step("operator", (a,), lambda u: (1.2 + np.sin(u)) ** e, f"(1.2 + np.sin(v{a})) ** {e}")
        return Step("operator", (a,), lambda u: u ** e, f"v{a} ** {e}")
    ops = {"+": lambda u, w: u + f(w), "-": lambda u, w: u - f(w), "*": lambda u, w: u * f(w)}
    return Step("operator", (a, b), ops[kind], f"v{a} {kind} {tb}")


BUILDERS = [(b_rule, 5), (b_reshape, 2), (b_index, 2), (b_setitem, 1), (b_copyop, 2), (b_reduce, 2),
            (b_product, 2), (b_join, 1), (b_linalg, 1), (b_fft, 1), (b_operator, 2)]
_BUILDER_LIST = [b for b, w in BUILDERS for _ in range(w)]

#: Every op family a program can contain, by the name ``programs(force=...)`` takes: each
#: elementwise rule of the table, and each structural op.
FAMILIES = {name: b_rule for name in RULES}
for _builder, _kinds in [
    (b_reshape, ["reshape", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze"]),
    (b_index, ["slice", "gather"]),
    (b_setitem, ["setitem slice", "setitem gather"]),
    (b_copyop, ["take", "tile", "repeat", "pad", "flip", "roll", "diff", "broadcast_to"]),
    (b_reduce, ["sum", "mean", "max", "min", "prod", "var", "std", "norm", "cumsum", "cumprod", "sort",
                "logsumexp", "method"]),
    (b_product, ["matmul", "dot", "outer", "einsum", "tensordot", "inner", "gram"]),
    (b_join, ["concatenate", "stack", "where", "where_nan"]),
    (b_linalg, ["solve", "inv", "det", "slogdet", "cholesky", "qr", "pinv"]),
    (b_fft, ["rfft_irfft", "fft", "fftn", "irfft", "hfft", "ihfft"]),
    (b_operator, ["+", "-", "*", "/", "**", "neg", "rconst"]),
]:
    for _kind in _kinds:
        assert _kind not in FAMILIES, _kind
        FAMILIES[_kind] = _builder

# --- output terms ---------------------------------------------------------------------------------

_TERMS = [
    (lambda v: np.sum(np.tanh(v)), "np.sum(np.tanh({}))"),
    (lambda v: np.mean(v * v) / 4.0, "np.mean({} * {}) / 4"),
    (lambda v: ad.logsumexp(np.sin(v)), "ad.logsumexp(np.sin({}))"),
    (lambda v: np.sum(np.sin(v) * np.cos(0.5 * v)), "np.sum(np.sin({0}) * np.cos(0.5 * {0}))"),
]


def _random_step(g: _Gen):
    for _attempt in range(4):
        step = g.uniform(_BUILDER_LIST)(g)
        if step is not None and g.add(step):
            return
    a = g.pick()  # nothing applicable: a smooth step always is
    g.add(Step("rule tanh", (a,), np.tanh, f"np.tanh(v{a})"))


@st.composite
def programs(draw, max_args=3, max_steps=MAX_STEPS, force=None):
    """A random program with its arguments' shapes, ``argnums`` and the Hessian's argument.

    ``force`` names an op family (a key of ``FAMILIES``): the program is then short and
    contains that op, between at most one random step before and one after.
    """
    nargs = draw(st.integers(1, max_args))
    # Shapes come from a seeded generator rather than from many small draws: hypothesis favours
    # the simplest choices, which would make most arguments scalars.
    srng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    nd = int(srng.choice([0, 1, 2, 2, 3, 3]))
    base = tuple(int(d) for d in srng.integers(1, 5, size=nd))
    while int(np.prod(base, dtype=int)) > 24:
        base = base[1:]
    shapes = []
    for _ in range(nargs):
        keep = nd if srng.random() < 0.7 else int(srng.integers(0, nd + 1))
        shapes.append(tuple(d if srng.random() < 0.8 else 1 for d in base[nd - keep:]))
    seed = draw(st.integers(0, 2**32 - 1))
    prog = Program(shapes=shapes, seed=seed)
    g = _Gen(draw, np.random.default_rng(seed + 1), prog.args())
    if force is None:
        for _ in range(draw(st.integers(1, max_steps))):
            _random_step(g)
    else:
        for _ in range(draw(st.integers(0, 1))):
            _random_step(g)
        g.force = force
        for _attempt in range(8):
            step = FAMILIES[force](g)
            if step is not None and g.add(step):
                break
        else:
            assume(False)  # not applicable to these shapes or too close to a kink here
        g.force = None
        for _ in range(draw(st.integers(0, 1))):
            _random_step(g)
    prog.steps = g.steps
    if force is None:
        event(f"program: {nargs} argument(s), {len(g.steps)} step(s)")
        event(f"largest argument: {max(int(np.prod(s, dtype=int)) for s in shapes)} element(s)")
    live = [i for i in range(len(g.vals)) if g.reads[i] == 0]
    terms = []
    for i in live:
        fn, text = draw(st.sampled_from(_TERMS))
        coef = float(g.rng.uniform(0.5, 1.5))
        terms.append((i, lambda v, fn=fn, coef=coef: coef * fn(v), f"{coef:.3g} * " + text.replace("{0}", "{}")))
    prog.terms = terms
    nums = draw(st.lists(st.integers(0, nargs - 1), min_size=1, max_size=nargs, unique=True))
    prog.argnums = nums[0] if len(nums) == 1 and draw(st.booleans()) else tuple(nums)
    prog.hess_arg = draw(st.integers(0, nargs - 1))
    if nargs > 1:
        prog.mixed_arg = draw(st.sampled_from([i for i in range(nargs) if i != prog.hess_arg]))
    return prog
