"""Fused loops: a run of elementwise rules over one shape as one generated Numba loop.

A *run* is a straight-line sequence of elementwise rules on values of one size ``n`` (see
:mod:`dualad.transforms.fusion`, which finds them in a program).  Its :class:`FusedSpec` names,
for each op, the rule and its operands, each a *reference*:

``"v<j>"``
    the value of op ``j`` of the run (kept in a register, element by element);
``"a<k>"``
    element ``i`` of input array ``k`` (``n`` values at an offset of the buffer);
``"s<k>"``
    scalar input ``k`` (one value of the buffer, broadcast).

and which references are *stored* (written to ``n`` values of the buffer, for the code after
the run) and which are *summed* (a full sum, the run's scalar results).  The loop reads each
input once and writes each stored value once; nothing is allocated per op.

The generated module has two functions over one flat buffer ``buf`` and an int64 table
``offs`` of offsets (inputs, scalars, stored values, sums, in this order):

``run(buf, offs, n)``
    the values;
``adjoint(buf, adj, offs, n)``
    the reverse sweep of the run on the adjoints ``adj`` (one per buffer position): each
    element's values and partials are computed again in registers, the adjoints of stored and
    summed values are read, and ``x̄ += ȳ · ∂`` (strong zeros: an exact zero on either side
    contributes nothing, even against inf or NaN) is added into the inputs' adjoints.

No derivative formula lives here: the partials are the rule functions' own, inlined.  The
loops run over blocks of :data:`SUM_BLOCK` elements, on views of each block indexed from 0, and
keep no running sum inside the element loop: a full sum's terms (and a scalar input's adjoint
terms) are written to a block of partial terms and summed per block, pairwise, into float64
totals.  So LLVM vectorises the element loop, and where every rule of the run
:func:`vectorises`, the rules are their :attr:`~dualad.rules.ElementwiseRule.kernel_fn`
(:mod:`dualad.rules.vecmath`'s ``exp``, ``sin``, ...; W2 under ``jit``, value and gradient of
10⁶ elements: one loop of 9.3 ms against 30 ms with the C library); otherwise their
:attr:`~dualad.rules.ElementwiseRule.loop_fn` (the C library's, faster one element at a time).
The source depends on the spec only (not on sizes, offsets or values), so every program with
the same run shares one module, compiled lazily with ``cache=True`` (once per machine and
buffer dtype) in the kernel cache folder (:mod:`.cache`).
"""

from __future__ import annotations

import dis
import hashlib
import inspect
import threading
from typing import NamedTuple

import numpy as np

from ..rules.base import RULES, implementation_of
from .cache import FORMAT, load_generated
from .cpu import memo

__all__ = ["FusedSpec", "fused_source", "fused_kernel", "vectorises", "SUM_BLOCK", "VECTOR_SAFE"]

#: Elements per block of a fused loop: the partial terms of a full sum (or of a scalar input's
#: adjoint) are summed per block.  A power of two.
SUM_BLOCK = 1024
#: NumPy functions a rule may call and still vectorise in a fused loop (LLVM has vector code
#: for them), besides :mod:`dualad.rules.vecmath`'s; see :func:`vectorises`.
VECTOR_SAFE = frozenset(["sqrt", "absolute", "abs", "fabs", "sign", "copysign", "maximum", "minimum", "fmax", "fmin",
                         "floor", "ceil", "rint", "trunc", "isnan", "isfinite", "positive", "negative", "square", "reciprocal"])

_LOCK = threading.Lock()
_BUILT: dict = {}


class FusedSpec(NamedTuple):
    """The structure of a run: what its loop computes, without sizes, offsets or values.

    Attributes
    ----------
    ops : tuple
        ``(rule name, (reference, ...))`` per op; op ``j`` defines ``"v<j>"``.
    inputs, scalars : int
        How many input arrays (``"a<k>"``) and scalar inputs (``"s<k>"``) the run reads.
    stores : tuple
        The references written to the buffer, in the order of their offsets.
    sums : tuple
        The references whose full sums are the run's scalar results.
    adds : tuple
        The numbers of the stores *added* to what their positions hold instead of written
        (the adjoints of slices embedded into zeros and summed: two stores at offsets one
        apart into one array).  A block's added values go to a block of their own first, and
        are added after the block's element loop, so a store at a higher offset written by an
        earlier element or block comes first.

    Examples
    --------
    >>> from dualad.kernels.fused import FusedSpec
    >>> spec = FusedSpec((("sin", ("a0",)), ("multiply", ("v0", "s0"))), 1, 1, ("v0",), ("v1",))
    >>> spec.offsets()
    4
    """

    ops: tuple
    inputs: int
    scalars: int
    stores: tuple
    sums: tuple
    adds: tuple = ()

    def offsets(self) -> int:
        """The length of the run's offset table."""
        return self.inputs + self.scalars + len(self.stores) + len(self.sums)


def _read(ref: str) -> str:
    """The expression for a reference inside the element loop."""
    return f"{ref}[i]" if ref[0] == "a" else ref


def _heads(spec: FusedSpec, with_adjoints: bool, direct: tuple = (), fresh: tuple = ()) -> list[str]:
    """Views of the buffer for the run's inputs and stored values (``a<k>_``, ``o<j>_``; the
    inputs of ``direct`` are the arguments ``x<m>`` instead, arrays of the caller's, and the
    stored values of ``fresh`` the arguments ``z<m>``, new arrays of the run's); with
    adjoints, views of ``adj`` for the same (``ya<k>_``, ``yo<j>_``) and the sums' adjoints;
    the scalar inputs; a block of partial terms per sum (values) or per scalar input
    (adjoints), and their totals."""
    lines, k = [], 0
    for name, count in (("a", spec.inputs), ("s", spec.scalars), ("o", len(spec.stores))):
        for j in range(count):
            if name == "s":
                lines.append(f"    s{j} = buf[offs[{k}]]")
            elif name == "o" and j in fresh:
                lines.append(f"    o{j}_ = z{fresh.index(j)}")
            elif name == "a" and j in direct:
                lines.append(f"    a{j}_ = x{direct.index(j)}")
                if with_adjoints:
                    lines.append(f"    ya{j}_ = adj[offs[{k}]:offs[{k}] + n]")
            else:
                lines.append(f"    {name}{j}_ = buf[offs[{k}]:offs[{k}] + n]")
                if with_adjoints:
                    lines.append(f"    y{name}{j}_ = adj[offs[{k}]:offs[{k}] + n]")
            k += 1
    if with_adjoints:
        lines += [f"    ym{j} = adj[offs[{k + j}]]" for j in range(len(spec.sums))]
    terms = spec.scalars if with_adjoints else len(spec.sums)
    lines += [f"    t{j} = np.empty({SUM_BLOCK}, np.float64)" for j in range(terms)]
    if not with_adjoints:
        lines += [f"    u{j} = np.empty({SUM_BLOCK}, buf.dtype)" for j in spec.adds]
    return lines + [f"    m{j} = 0.0" for j in range(terms)]


def _blocks(spec: FusedSpec, with_adjoints: bool) -> list[str]:
    """The loop over blocks of :data:`SUM_BLOCK` elements and, per block, views of its
    elements (indexed from 0: LLVM then sees plain strided access and vectorises the element
    loop, which it does not do with the block's offset in the index)."""
    lines = [f"    for lo in range(0, n, {SUM_BLOCK}):", f"        hi = min(lo + {SUM_BLOCK}, n)"]
    for name, count in (("a", spec.inputs), ("o", len(spec.stores))):
        for j in range(count):
            lines.append(f"        {name}{j} = {name}{j}_[lo:hi]")
            if with_adjoints:
                lines.append(f"        y{name}{j} = y{name}{j}_[lo:hi]")
    return lines + ["        for i in range(hi - lo):"]


def _element(spec: FusedSpec, rules: dict, indent: str) -> list[str]:
    """One element's values: ``r<j>`` the rule's tuple, ``v<j>`` its value."""
    lines = []
    for j, (name, refs) in enumerate(spec.ops):
        lines += [f"r{j} = {rules[name]}({', '.join(_read(r) for r in refs)})", f"v{j} = r{j}[0]"]
    return [indent + line for line in lines]


def _totals(count: int, last: str) -> list[str]:
    """After a block: its partial terms summed into the totals; after the loop, ``last(j)``."""
    lines = [f"        m{j} += _block_sum(t{j}, hi - lo)" for j in range(count)]
    return lines + [last(j) for j in range(count)]


def _args(direct: tuple, fresh: tuple = ()) -> str:
    """The direct inputs' and fresh stores' parameters (``, x0, x1, z0``)."""
    return "".join(f", x{m}" for m in range(len(direct))) + "".join(f", z{m}" for m in range(len(fresh)))


def _run_source(spec: FusedSpec, rules: dict, direct: tuple = (), fresh: tuple = ()) -> list[str]:
    """The values: per element, the ops and the stored values; the sums' terms go to a block
    of partial terms, summed per block (:func:`_block_sum`) into float64 totals.  ``rules``
    name the rules' copies that compute no partial."""
    first = spec.inputs + spec.scalars + len(spec.stores)
    ind = " " * 12
    lines = [f"def run(buf, offs, n{_args(direct, fresh)}):"] + _heads(spec, False, direct, fresh)
    lines += _blocks(spec, False)
    lines += _element(spec, rules, ind)
    lines += [f"{ind}{'u' if j in spec.adds else 'o'}{j}[i] = {ref}" for j, ref in enumerate(spec.stores)]
    lines += [f"{ind}t{j}[i] = {_read(ref)}" for j, ref in enumerate(spec.sums)]
    for j in spec.adds:  # after the block's element loop: its added stores
        lines += ["        for i in range(hi - lo):", f"            o{j}[i] += u{j}[i]"]
    return lines + _totals(len(spec.sums), lambda j: f"    buf[offs[{first + j}]] = m{j}")


def _adjoint_source(spec: FusedSpec, rules: dict, direct: tuple = ()) -> list[str]:
    """The reverse sweep: per element, the values again, then ``g<x> += sz(g<v_j>, ∂)`` from the
    last op back; input arrays' adjoints are added once per element, scalars' terms go to a
    block of partial terms (as the sums of :func:`_run_source`), added once per run."""
    ind = " " * 12
    lines = [f"def adjoint(buf, adj, offs, n{_args(direct)}):"] + _heads(spec, True, direct) + _blocks(spec, True)
    lines += _element(spec, rules, ind)
    lines += [f"{ind}g{ref} = 0.0" for ref in _refs(spec)]
    lines += [f"{ind}g{ref} += yo{j}[i]" for j, ref in enumerate(spec.stores)]
    lines += [f"{ind}g{ref} += ym{j}" for j, ref in enumerate(spec.sums)]
    for j in range(len(spec.ops) - 1, -1, -1):
        for m, ref in enumerate(spec.ops[j][1]):
            lines += [f"{ind}q = r{j}[{m + 1}]", f"{ind}g{ref} += 0.0 if (gv{j} == 0.0) | (q == 0.0) else gv{j} * q"]
    lines += [f"{ind}ya{k}[i] += ga{k}" for k in range(spec.inputs)]
    lines += [f"{ind}t{k}[i] = gs{k}" for k in range(spec.scalars)]
    return lines + _totals(spec.scalars, lambda k: f"    adj[offs[{spec.inputs + k}]] += m{k}")


def _refs(spec: FusedSpec) -> list[str]:
    """Every reference the run defines or reads, scalars included."""
    return [f"v{j}" for j in range(len(spec.ops))] + [f"a{k}" for k in range(spec.inputs)] + [
        f"s{k}" for k in range(spec.scalars)]


# The sum of a block's partial terms, pairwise: in place, zeros past the m terms, then the upper
# half added to the lower one until one value is left.  Every pass is a loop LLVM vectorises
# (no reordering of a running sum, so no fast-math flags), and the rounding error grows with
# log2(SUM_BLOCK), as NumPy's pairwise sum.
_BLOCK_SUM = f"""\
@numba.njit(inline='always', error_model='numpy', cache=False)
def _block_sum(t, m):
    t[m:] = 0.0
    w = {SUM_BLOCK // 2}
    while w > 0:
        u = t[:w]
        v = t[w:2 * w]
        for i in range(w):
            u[i] += v[i]
        w //= 2
    return t[0]
"""


def vectorises(rule) -> bool:
    """Whether a loop over ``rule``'s :attr:`~dualad.rules.ElementwiseRule.kernel_fn` can
    vectorise: its code calls only :mod:`dualad.rules.vecmath`'s functions and NumPy functions
    with vector instructions (:data:`VECTOR_SAFE`), reads only numbers besides, and raises
    nothing to a power (``**`` is the C library's ``pow``).  A fused run calls ``kernel_fn``
    where every rule of it vectorises, else ``loop_fn`` (the C library's functions, faster one
    element at a time).

    Examples
    --------
    >>> from dualad.rules import RULES
    >>> from dualad.kernels.fused import vectorises
    >>> vectorises(RULES["sin"]), vectorises(RULES["multiply"]), vectorises(RULES["arctan"])
    (True, True, False)
    """
    from ..rules.vecmath import FUNCTIONS

    fn = rule.fn
    code = fn.__code__
    if code.co_freevars or any(c is not None and inspect.iscode(c) for c in code.co_consts):
        return False
    if any(ins.opname == "BINARY_OP" and ins.argrepr.startswith("**") for ins in dis.get_instructions(code)):
        return False
    for name in code.co_names:
        value = fn.__globals__.get(name)
        if value is np or isinstance(value, (int, float)) or name in VECTOR_SAFE or name in FUNCTIONS:
            continue
        impl = implementation_of(value)
        if impl is not None and getattr(impl.scalar, "key", "").endswith(":inline"):  # a select: no call
            continue
        return False
    return True


def fused_source(spec: FusedSpec, direct: tuple = (), fresh: tuple = ()) -> str:
    """The generated module's source for ``spec``; the input arrays numbered in ``direct``
    (ascending) are passed to ``run`` and ``adjoint`` as arguments after ``n`` (the caller's
    arrays, read where they lie), the others are read from the buffer; the stored values
    numbered in ``fresh`` (ascending) are written to arrays passed to ``run`` after those.

    Examples
    --------
    >>> from dualad.kernels.fused import FusedSpec, fused_source
    >>> src = fused_source(FusedSpec((("sin", ("a0",)),), 1, 0, (), ("v0",)))
    >>> "def run(buf, offs, n):" in src and "def adjoint(buf, adj, offs, n):" in src
    True
    """
    names = list(dict.fromkeys(name for name, _ in spec.ops))
    rules = {name: f"_r{i}" for i, name in enumerate(names)}
    fn = "kernel_fn" if all(vectorises(RULES[name]) for name in names) else "loop_fn"
    lines = [
        "# Generated by dualad.kernels.fused from a run of elementwise rules; do not edit.",
        "import numba",
        "import numpy as np",
        "from dualad.rules.base import RULES",
        "from dualad.rules.derive import restricted",
        "",
    ]
    lines += [f"_r{i} = numba.njit(RULES[{name!r}].{fn}, inline='always', error_model='numpy', cache=False)"
              f"  # {RULES[name].source_hash}" for i, name in enumerate(names)]
    # the values alone, for run: the rules' copies that compute no partial
    lines += [f"_v{i} = numba.njit(restricted(RULES[{name!r}].{fn}, (0,)), inline='always', error_model='numpy', cache=False)"
              for i, name in enumerate(names)]
    lines += ["", "", _BLOCK_SUM.rstrip()]
    jit = "@numba.njit(cache=True, nogil=True, error_model='numpy')"
    values = {name: f"_v{i}" for i, name in enumerate(names)}
    lines += ["", "", jit] + _run_source(spec, values, direct, fresh) + ["", "", jit] + _adjoint_source(spec, rules, direct)
    return "\n".join(lines) + "\n"


def fused_kernel(spec: FusedSpec, direct: tuple = (), fresh: tuple = ()):
    """The compiled module for ``spec``, ``direct`` and ``fresh`` (:func:`fused_source`; its ``run`` and
    ``adjoint``), generated and imported
    once per process; Numba compiles each on first call per buffer dtype, or loads it from its
    disk cache.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.kernels.fused import FusedSpec, fused_kernel
    >>> spec = FusedSpec((("multiply", ("a0", "a0")), ("sin", ("v0",))), 1, 0, (), ("v1",))
    >>> buf = np.array([0.0, 1.0, 2.0, 0.0])          # input at 1 (two values), the sum at 3
    >>> offs = np.array([1, 3])
    >>> fused_kernel(spec).run(buf, offs, 2)
    >>> bool(np.isclose(buf[3], np.sin(1.0) + np.sin(4.0)))
    True
    """
    def build():
        src = fused_source(spec, direct, fresh)
        digest = hashlib.sha1(f"{FORMAT}\n{src}".encode()).hexdigest()[:16]
        return load_generated(f"dualad_fused_{digest}", src)

    return memo(_BUILT, _LOCK, (spec, direct, fresh), build)
