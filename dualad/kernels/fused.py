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

No derivative formula lives here: the partials are the rule functions' own, inlined as
:attr:`~dualad.rules.ElementwiseRule.loop_fn` (the C library's functions: these loops do not
vectorise, and vectorisable code run one element at a time is 2-3x slower; W2 under ``jit``:
55 ms with it, 32 ms without).  Sums accumulate in float64, by blocks of
:data:`SUM_BLOCK` elements (the rounding error grows with the block count, not with ``n``).
The source depends on the spec only (not on sizes, offsets or values), so every program with
the same run shares one module, compiled lazily with ``cache=True`` (once per machine and
buffer dtype) in the kernel cache folder (:mod:`.cache`).
"""

from __future__ import annotations

import hashlib
import threading
from typing import NamedTuple

from ..rules.base import RULES
from .cache import FORMAT, load_generated
from .cpu import memo

__all__ = ["FusedSpec", "fused_source", "fused_kernel", "SUM_BLOCK"]

#: Elements per partial sum of a fused full sum.
SUM_BLOCK = 1024

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

    def offsets(self) -> int:
        """The length of the run's offset table."""
        return self.inputs + self.scalars + len(self.stores) + len(self.sums)


def _read(ref: str) -> str:
    """The expression for a reference inside the element loop."""
    return f"{ref}[i]" if ref[0] == "a" else ref


def _heads(spec: FusedSpec, with_adjoints: bool) -> list[str]:
    """Views of the buffer for the run's inputs and stored values; with adjoints, views of
    ``adj`` for the same (``y<name>``), scalar inputs' accumulators and the sums' adjoints."""
    lines, k = [], 0
    for name, count in (("a", spec.inputs), ("s", spec.scalars), ("o", len(spec.stores))):
        for j in range(count):
            view = f"buf[offs[{k}]]" if name == "s" else f"buf[offs[{k}]:offs[{k}] + n]"
            lines.append(f"    {name}{j} = {view}")
            if with_adjoints and name != "s":
                lines.append(f"    y{name}{j} = adj[offs[{k}]:offs[{k}] + n]")
            k += 1
    if with_adjoints:
        lines += [f"    gs{j} = 0.0" for j in range(spec.scalars)]
        lines += [f"    ym{j} = adj[offs[{k + j}]]" for j in range(len(spec.sums))]
    return lines


def _element(spec: FusedSpec, rules: dict, indent: str) -> list[str]:
    """One element's values: ``r<j>`` the rule's tuple, ``v<j>`` its value."""
    lines = []
    for j, (name, refs) in enumerate(spec.ops):
        lines += [f"r{j} = {rules[name]}({', '.join(_read(r) for r in refs)})", f"v{j} = r{j}[0]"]
    return [indent + line for line in lines]


def _run_source(spec: FusedSpec, rules: dict) -> list[str]:
    """The values (``rules`` name the rules' copies that compute no partial).  Without sums, one plain loop over the elements (which LLVM vectorises);
    with sums, blocks of :data:`SUM_BLOCK` elements, each summed apart first."""
    first = spec.inputs + spec.scalars + len(spec.stores)
    lines = ["def run(buf, offs, n):"] + _heads(spec, False)
    ind = " " * (12 if spec.sums else 8)
    if spec.sums:
        lines += [f"    m{j} = 0.0" for j in range(len(spec.sums))]
        lines += [f"    for lo in range(0, n, {SUM_BLOCK}):"] + [f"        p{j} = 0.0" for j in range(len(spec.sums))]
        lines += [f"        for i in range(lo, min(lo + {SUM_BLOCK}, n)):"]
    else:
        lines += ["    for i in range(n):"]
    lines += _element(spec, rules, ind) + [f"{ind}o{j}[i] = {ref}" for j, ref in enumerate(spec.stores)]
    lines += [f"{ind}p{j} += {_read(ref)}" for j, ref in enumerate(spec.sums)]
    lines += [f"        m{j} += p{j}" for j in range(len(spec.sums))]
    return lines + [f"    buf[offs[{first + j}]] = m{j}" for j in range(len(spec.sums))]


def _adjoint_source(spec: FusedSpec, rules: dict) -> list[str]:
    """The reverse sweep: per element, the values again, then ``g<x> += sz(g<v_j>, ∂)`` from the
    last op back; input arrays' adjoints are added once per element, scalars' once per run."""
    ind = " " * 8
    lines = ["def adjoint(buf, adj, offs, n):"] + _heads(spec, True) + ["    for i in range(n):"]
    lines += _element(spec, rules, ind)
    lines += [f"{ind}g{ref} = 0.0" for ref in _refs(spec) if ref[0] != "s"]
    lines += [f"{ind}g{ref} += yo{j}[i]" for j, ref in enumerate(spec.stores)]
    lines += [f"{ind}g{ref} += ym{j}" for j, ref in enumerate(spec.sums)]
    for j in range(len(spec.ops) - 1, -1, -1):
        for m, ref in enumerate(spec.ops[j][1]):
            lines += [f"{ind}q = r{j}[{m + 1}]", f"{ind}g{ref} += 0.0 if (gv{j} == 0.0) | (q == 0.0) else gv{j} * q"]
    lines += [f"{ind}ya{k}[i] += ga{k}" for k in range(spec.inputs)]
    return lines + [f"    adj[offs[{spec.inputs + k}]] += gs{k}" for k in range(spec.scalars)]


def _refs(spec: FusedSpec) -> list[str]:
    """Every reference the run defines or reads, scalars included."""
    return [f"v{j}" for j in range(len(spec.ops))] + [f"a{k}" for k in range(spec.inputs)] + [
        f"s{k}" for k in range(spec.scalars)]


def fused_source(spec: FusedSpec) -> str:
    """The generated module's source for ``spec``.

    Examples
    --------
    >>> from dualad.kernels.fused import FusedSpec, fused_source
    >>> src = fused_source(FusedSpec((("sin", ("a0",)),), 1, 0, (), ("v0",)))
    >>> "def run(buf, offs, n):" in src and "def adjoint(buf, adj, offs, n):" in src
    True
    """
    names = list(dict.fromkeys(name for name, _ in spec.ops))
    rules = {name: f"_r{i}" for i, name in enumerate(names)}
    lines = [
        "# Generated by dualad.kernels.fused from a run of elementwise rules; do not edit.",
        "import numba",
        "from dualad.rules.base import RULES",
        "from dualad.rules.derive import restricted",
        "",
    ]
    lines += [f"_r{i} = numba.njit(RULES[{name!r}].loop_fn, inline='always', error_model='numpy', cache=False)"
              f"  # {RULES[name].source_hash}" for i, name in enumerate(names)]
    # the values alone, for run: the rules' copies that compute no partial
    lines += [f"_v{i} = numba.njit(restricted(RULES[{name!r}].loop_fn, (0,)), inline='always', error_model='numpy', cache=False)"
              for i, name in enumerate(names)]
    jit = "@numba.njit(cache=True, nogil=True, error_model='numpy')"
    values = {name: f"_v{i}" for i, name in enumerate(names)}
    lines += ["", "", jit] + _run_source(spec, values) + ["", "", jit] + _adjoint_source(spec, rules)
    return "\n".join(lines) + "\n"


def fused_kernel(spec: FusedSpec):
    """The compiled module for ``spec`` (its ``run`` and ``adjoint``), generated and imported
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
        src = fused_source(spec)
        digest = hashlib.sha1(f"{FORMAT}\n{src}".encode()).hexdigest()[:16]
        return load_generated(f"dualad_fused_{digest}", src)

    return memo(_BUILT, _LOCK, spec, build)
