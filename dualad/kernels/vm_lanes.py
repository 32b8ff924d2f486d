"""The VM's lane sweeps: forward tangents with k lanes, and forward-over-reverse, generated once
from the rule table as the interpreter of :mod:`dualad.kernels.vm` is.

They run the instructions of a lowered program (:mod:`dualad.transforms.program`) with a second
array of *tangent lanes*, ``tan`` of shape ``(buffer size, k)``: row ``p`` holds the k tangents
of buffer position ``p``.

``jvp_run(buf, tan, code, ints, start, stop)``
    The values, as ``run`` computes them, and their tangents: an elementwise instruction writes
    ``ẏ[l] = Σ_j ∂_j · ẋ_j[l]`` with the partials of the same rule call that gives the value
    (strong zeros); a gather copies rows, a sum and a scatter-add add them, a matrix product
    writes ``Ȧ B + A Ḃ``.
``mark_fixed(code, ints, active)``
    Marks each matrix product's operands that no input reaches (``active``: a boolean per
    position, True at the inputs) by writing 1 into its fields ``c`` (``A``) and ``sc``
    (``B``): the sweeps then skip those operands' tangents and adjoints.  An unmarked
    product (0, as lowered) carries both.
``hvp_sweep(buf, tan, adj, adjt, code, ints, start, stop)``
    Backwards over the instructions, the adjoints ``adj`` (one per position) and their
    tangents ``adjt`` (``(size, k)``): an elementwise instruction adds ``x̄_i += ȳ ∂_i`` and
    ``ẋ̄_i[l] += ẏ̄[l] ∂_i + ȳ Σ_j ∂²_ij ẋ_j[l]``.  The second partials ``∂²_ij`` come from the
    rule's *tangent* (:func:`dualad.rules.derive.tangent_source`: the rule table applied to
    the rule's own source), seeded along each input in turn; so no derivative is written here
    either.  Run after ``jvp_run`` with seeds ``V``, from ``adj[y] = 1``, it leaves the
    gradient in ``adj`` and the Hessian-vector products ``H V`` in ``adjt``.

The module is written to the kernel cache folder, keyed by a hash of its source, and each sweep
compiles on its first call for a dtype (``cache=True``: once per machine).
"""

from __future__ import annotations

from ..rules.base import ElementwiseRule
from ..rules.derive import derivable, tangent_source
from ..rules.vecmath import FUNCTIONS
from .fused import vectorises
from .vm import BLAS_MIN, KIND_NAMES, branch_tree, generated_module, vm_rules

__all__ = ["lanes_source", "get_lane_sweeps", "LANE_BLOCK", "LANE_BLOCK_MIN"]

#: Elements per block of an elementwise instruction run by blocks in ``jvp_run`` (see
#: :data:`LANE_BLOCK_MIN`).
LANE_BLOCK = 256
#: Elementwise instructions of at least this many elements whose rule vectorises run by blocks:
#: the rule's values and partials in a loop of their own over a block, which LLVM vectorises
#: (W4 tall: ``tanh`` of 2000 elements), then the lanes.  Below it, one loop calls the rule with
#: the C library's functions per element (``vecmath``'s selects cost more unvectorised).
LANE_BLOCK_MIN = 16

def _sz(dst: str, a: str, b: str) -> str:
    """A strong-zero product: 0 when either factor is exactly 0 (even against inf or nan)."""
    return f"{dst} = 0.0 if ({a} == 0.0) | ({b} == 0.0) else {a} * {b}"


def _operands(nin: int) -> tuple[str, str, list[str]]:
    names = "abc"[:nin]
    return names, ", ".join(f"{x}, s{x}" for x in names), [f"    p{x} = {x} + i * s{x}" for x in names]


def _lanes_of(nin: int, names: str, indent: str) -> list[str]:
    """The tangent lanes of element ``o`` from its operands' rows ``p<x>`` and partials ``q<j>``."""
    lines = ["for l in range(k):"]
    for j, x in enumerate(names):
        lines += [f"    t{j} = tan[p{x}, l]", "    " + _sz(f"v{j}", f"q{j}", f"t{j}")]
    lines += [f"    tan[o, l] = {' + '.join(f'v{j}' for j in range(nin))}"]
    return [indent + line for line in lines]


def _jvp_blocks(nin: int, s: int) -> list[str]:
    """Rule ``s``'s instruction by blocks of :data:`LANE_BLOCK` elements, element innermost: the
    operands copied to rows of the scratch array ``w``, the rule's
    :attr:`~dualad.rules.ElementwiseRule.kernel_fn` over them (a loop LLVM vectorises, with
    :mod:`dualad.rules.vecmath`'s functions), its value and partials to rows of ``w``, then the
    lanes element by element."""
    names, _, _ = _operands(nin)
    lines = [f"w{j} = w[{j}]" for j in range(4 + nin)]  # (rows as 1-d arrays: plain strided access)
    lines += [f"for lo in range(0, n, {LANE_BLOCK}):", f"    m = min(n - lo, {LANE_BLOCK})", "    for i in range(m):"]
    lines += [f"        w{j}[i] = buf[{x} + (lo + i) * s{x}]" for j, x in enumerate(names)]
    lines += ["    for i in range(m):", f"        r = _k{nin}_{s}({', '.join(f'w{j}[i]' for j in range(nin))})"]
    lines += [f"        w{3 + j}[i] = r[{j}]" for j in range(nin + 1)]
    lines += ["    for i in range(m):", "        o = out + lo + i", "        buf[o] = w3[i]"]
    lines += [f"        p{x} = {x} + (lo + i) * s{x}" for x in names] + [f"        q{j} = w{4 + j}[i]" for j in range(nin)]
    return lines + _lanes_of(nin, names, "        ")


def _blocked(rule: ElementwiseRule) -> bool:
    """Whether ``jvp_run`` runs ``rule`` by blocks: it vectorises and calls one of
    :mod:`dualad.rules.vecmath`'s functions (the C library's one element at a time costs
    10-15 ns; arithmetic alone runs faster in the one loop)."""
    return vectorises(rule) and any(name in FUNCTIONS for name in rule.fn.__code__.co_names)


def _jvp_function(nin: int, rules: list[ElementwiseRule]) -> list[str]:
    """``_jvp{nin}``: an elementwise instruction's values and tangent lanes; from
    :data:`LANE_BLOCK_MIN` elements on, by blocks (:func:`_jvp_blocks`) for a rule that
    calls a vectorisable function (:func:`_blocked`)."""
    names, args, positions = _operands(nin)
    xs = ", ".join(f"buf[p{x}]" for x in names)

    def body(s: int) -> list[str]:
        lines = ["for i in range(n):"] + positions
        lines += [f"    r = _r{nin}_{s}({xs})", "    o = out + i", "    buf[o] = r[0]"]
        lines += [f"    q{j} = r[{j + 1}]" for j in range(nin)] + _lanes_of(nin, names, "    ")
        if not _blocked(rules[s]):
            return lines
        return [f"if n >= {LANE_BLOCK_MIN}:"] + ["    " + x for x in _jvp_blocks(nin, s)] + ["    return"] + lines

    head = ["@numba.njit(error_model='numpy', cache=False)", f"def _jvp{nin}(sub, buf, tan, w, k, out, n, {args}):"]
    return head + (branch_tree(list(range(len(rules))), body, "    ") if rules else ["    return"]) + [""]


def _hvp_body(nin: int, s: int) -> list[str]:
    """The element loop of rule ``s`` of arity ``nin`` in ``_hvp{nin}``."""
    names, _, positions = _operands(nin)
    xs = ", ".join(f"x{j}" for j in range(nin))
    lines = ["for i in range(n):", "    o = out + i", "    g = adj[o]", "    live = g != 0", "    if not live:",
             "        for l in range(k):", "            if adjt[o, l] != 0:", "                live = True",
             "                break", "    if not live:", "        continue"] + positions
    lines += [f"    x{j} = buf[p{x}]" for j, x in enumerate(names)] + [f"    r = _r{nin}_{s}({xs})"]
    for j in range(nin):
        seeds = ", ".join("1.0" if jj == j else "0.0" for jj in range(nin))
        lines += [f"    h{j} = _t{nin}_{s}({xs}, {seeds})"]
    for i, x in enumerate(names):
        lines += [f"    q{i} = r[{i + 1}]"] + [f"    h{j}_{i} = h{j}[{nin + 1 + i}]" for j in range(nin)]
        lines += ["    " + _sz("u", "g", f"q{i}"), f"    adj[p{x}] += u"]
    lines += ["    for l in range(k):", "        gt = adjt[o, l]"]
    lines += [f"        t{j} = tan[p{x}, l]" for j, x in enumerate(names)]
    for i, x in enumerate(names):
        for j in range(nin):
            lines += ["        " + _sz(f"w{j}", f"h{j}_{i}", f"t{j}")]
        lines += [f"        acc = {' + '.join(f'w{j}' for j in range(nin))}", "        " + _sz("u", "g", "acc"),
                  "        " + _sz("v", "gt", f"q{i}"), f"        adjt[p{x}, l] += u + v"]
    return lines


def _hvp_function(nin: int, rules: list[ElementwiseRule]) -> list[str]:
    """``_hvp{nin}``: an elementwise instruction's adjoints and adjoint tangents."""
    _, args, _ = _operands(nin)
    head = ["@numba.njit(error_model='numpy', cache=False)", f"def _hvp{nin}(sub, buf, tan, adj, adjt, k, out, n, {args}):"]
    if not rules:
        return head + ["    return", ""]
    # (a rule without a tangent never runs here: dualad.transforms.sweeps.second_order checks)
    unreachable = ["raise NotImplementedError('this rule has no tangent in the VM')"]
    return head + branch_tree(list(range(len(rules))),
                              lambda s: _hvp_body(nin, s) if derivable(rules[s]) else unreachable, "    ") + [""]


def _tangents(table: dict) -> list[str]:
    """The rules' tangents (second partials), each compiled, with the rules they call."""
    lines, used_all, sources = [], {}, []
    for nin, rs in table.items():
        for s, rule in enumerate(rs):
            if not derivable(rule):
                continue
            src, used = tangent_source(rule, f"_tp{nin}_{s}")
            sources += [src, f"_t{nin}_{s} = numba.njit(_tp{nin}_{s}, error_model='numpy', cache=False)", ""]
            used_all.update(dict.fromkeys(used))
    lines += [f"_R_{name} = numba.njit(RULES[{name!r}].loop_fn, error_model='numpy', cache=False)" for name in used_all]
    lines += ["", "@numba.njit(error_model='numpy', cache=False)", "def _sz(a, b):",
              "    return 0.0 if (a == 0.0) | (b == 0.0) else a * b", ""]
    return lines + sources


def lanes_source(rules: dict | None = None) -> str:
    """The lane sweeps' Python source for the rule table ``rules`` (default: the current one).

    Examples
    --------
    >>> from dualad.kernels.vm_lanes import lanes_source
    >>> src = lanes_source()
    >>> "def jvp_run(buf, tan, code, ints, start, stop):" in src, "def hvp_sweep(" in src
    (True, True)
    """
    table = vm_rules(rules)
    lines = ["# Generated by dualad.kernels.vm_lanes from the rule table; do not edit.", "import numba", "import numpy as np",
             "from dualad.rules.base import RULES", ""]
    for nin, rs in table.items():
        lines += [f"_r{nin}_{s} = numba.njit(RULES[{r.name!r}].loop_fn, error_model='numpy', cache=False)  # {r.source_hash}"
                  for s, r in enumerate(rs)]
        lines += [f"_k{nin}_{s} = numba.njit(RULES[{r.name!r}].kernel_fn, inline='always', error_model='numpy', cache=False)"
                  for s, r in enumerate(rs) if _blocked(r)]
    lines += [""] + _tangents(table)
    for nin, rs in table.items():
        lines += _jvp_function(nin, rs) + _hvp_function(nin, rs)
    lines += _SWEEPS.format(blas=BLAS_MIN, block=LANE_BLOCK, **{k: v for v, k in enumerate(KIND_NAMES)}).splitlines()
    return "\n".join(lines) + "\n"


_SWEEPS = '''
@numba.njit(error_model='numpy', cache=False)
def _matmul_jvp(buf, tan, k, out, m, kk, n, a, b, fixed_a, fixed_b):
    if fixed_a != 0 and m * kk * n * (k + 1) > {blas}:  # a constant matrix: C = A B and its tangents A dB, by BLAS
        A = buf[a:a + m * kk].reshape((m, kk))
        np.dot(A, buf[b:b + kk * n].reshape((kk, n)), buf[out:out + m * n].reshape((m, n)))  # (into place)
        flat = tan.reshape(-1)
        if fixed_b != 0:
            flat[out * k:(out + m * n) * k] = 0
        else:
            np.dot(A, flat[b * k:(b + kk * n) * k].reshape((kk, n * k)), flat[out * k:(out + m * n) * k].reshape((m, n * k)))
        return
    for i in range(m):
        for j in range(n):
            o = out + i * n + j
            acc = buf[o] * 0
            for l in range(k):
                tan[o, l] = 0
            for q in range(kk):
                pa = a + i * kk + q
                pb = b + q * n + j
                av = buf[pa]
                bv = buf[pb]
                acc += av * bv
                if fixed_a == 0:
                    for l in range(k):
                        tan[o, l] += tan[pa, l] * bv
                if fixed_b == 0:
                    for l in range(k):
                        tan[o, l] += av * tan[pb, l]
            buf[o] = acc


@numba.njit(error_model='numpy', cache=True, nogil=True)
def jvp_run(buf, tan, code, ints, start, stop):
    k = tan.shape[1]
    w = np.empty((7, {block}), buf.dtype)
    for p in range(start, stop):
        kind = code[p, 0]
        out = code[p, 2]
        n = code[p, 3]
        if kind == {BINARY}:
            _jvp2(code[p, 1], buf, tan, w, k, out, n, code[p, 4], code[p, 5], code[p, 6], code[p, 7])
        elif kind == {UNARY}:
            _jvp1(code[p, 1], buf, tan, w, k, out, n, code[p, 4], code[p, 5])
        elif kind == {GATHER}:
            a = code[p, 4]
            for i in range(n):
                src = ints[a + i]
                buf[out + i] = buf[src]
                for l in range(k):
                    tan[out + i, l] = tan[src, l]
        elif kind == {SUM}:
            a = code[p, 4]
            buf[out] = 0
            for l in range(k):
                tan[out, l] = 0
            for i in range(n):
                buf[out] += buf[a + i]
                for l in range(k):
                    tan[out, l] += tan[a + i, l]
        elif kind == {SCATTER_ADD}:
            for i in range(n):
                buf[out + i] = 0
                for l in range(k):
                    tan[out + i, l] = 0
            a = code[p, 4]
            b = code[p, 6]
            for i in range(code[p, 5]):
                d = ints[a + i]
                buf[d] += buf[b + i]
                for l in range(k):
                    tan[d, l] += tan[b + i, l]
        elif kind == {MATMUL}:
            _matmul_jvp(buf, tan, k, out, n, code[p, 5], code[p, 7], code[p, 4], code[p, 6], code[p, 8], code[p, 9])
        elif kind == {TERNARY}:
            _jvp3(code[p, 1], buf, tan, w, k, out, n, code[p, 4], code[p, 5], code[p, 6], code[p, 7], code[p, 8], code[p, 9])


@numba.njit(error_model='numpy', cache=False)
def _matmul_hvp(buf, tan, adj, adjt, k, out, m, kk, n, a, b, fixed_a, fixed_b):
    if fixed_a != 0 and m * kk * n * (k + 1) > {blas}:  # a constant matrix: adjoints of B (and their tangents) += A^T times C's, by BLAS
        if fixed_b == 0:
            At = buf[a:a + m * kk].reshape((m, kk)).T.copy()
            adj[b:b + kk * n] += np.dot(At, adj[out:out + m * n].reshape((m, n))).ravel()
            flat = adjt.reshape(-1)
            flat[b * k:(b + kk * n) * k] += np.dot(At, flat[out * k:(out + m * n) * k].reshape((m, n * k))).ravel()
        return
    for i in range(m):
        for j in range(n):
            o = out + i * n + j
            g = adj[o]
            for q in range(kk):
                pa = a + i * kk + q
                pb = b + q * n + j
                av = buf[pa]
                bv = buf[pb]
                if fixed_a == 0:
                    adj[pa] += g * bv
                    for l in range(k):
                        adjt[pa, l] += adjt[o, l] * bv + g * tan[pb, l]
                if fixed_b == 0:
                    adj[pb] += g * av
                    for l in range(k):
                        adjt[pb, l] += adjt[o, l] * av + g * tan[pa, l]


@numba.njit(error_model='numpy', cache=False)
def _any(active, a, n, s):
    for i in range(n if s != 0 else 1):
        if active[a + i * s]:
            return True
    return False


@numba.njit(error_model='numpy', cache=True, nogil=True)
def mark_fixed(code, ints, active):
    for p in range(code.shape[0]):
        kind = code[p, 0]
        out = code[p, 2]
        n = code[p, 3]
        if kind == {GATHER}:
            for i in range(n):
                active[out + i] = active[ints[code[p, 4] + i]]
            continue
        if kind == {SCATTER_ADD}:
            for i in range(code[p, 5]):
                active[ints[code[p, 4] + i]] |= active[code[p, 6] + i]
            continue
        if kind == {MATMUL}:
            act_a = _any(active, code[p, 4], n * code[p, 5], 1)
            act_b = _any(active, code[p, 6], code[p, 5] * code[p, 7], 1)
            code[p, 8] = 0 if act_a else 1
            code[p, 9] = 0 if act_b else 1
            act = act_a or act_b
            n = n * code[p, 7]
        elif kind == {SUM}:
            act = _any(active, code[p, 4], n, 1)
            n = 1
        else:
            act = False
            for j in range(kind + 1):
                act = act or _any(active, code[p, 4 + 2 * j], n, code[p, 5 + 2 * j])
        for i in range(n):
            active[out + i] = act


@numba.njit(error_model='numpy', cache=True, nogil=True)
def hvp_sweep(buf, tan, adj, adjt, code, ints, start, stop):
    k = tan.shape[1]
    for p in range(stop - 1, start - 1, -1):
        kind = code[p, 0]
        out = code[p, 2]
        n = code[p, 3]
        if kind == {BINARY}:
            _hvp2(code[p, 1], buf, tan, adj, adjt, k, out, n, code[p, 4], code[p, 5], code[p, 6], code[p, 7])
        elif kind == {UNARY}:
            _hvp1(code[p, 1], buf, tan, adj, adjt, k, out, n, code[p, 4], code[p, 5])
        elif kind == {GATHER}:
            a = code[p, 4]
            for i in range(n):
                src = ints[a + i]
                adj[src] += adj[out + i]
                for l in range(k):
                    adjt[src, l] += adjt[out + i, l]
        elif kind == {SUM}:
            a = code[p, 4]
            g = adj[out]
            for i in range(n):
                adj[a + i] += g
                for l in range(k):
                    adjt[a + i, l] += adjt[out, l]
        elif kind == {SCATTER_ADD}:
            a = code[p, 4]
            b = code[p, 6]
            for i in range(code[p, 5]):
                d = ints[a + i]
                adj[b + i] += adj[d]
                for l in range(k):
                    adjt[b + i, l] += adjt[d, l]
        elif kind == {MATMUL}:
            _matmul_hvp(buf, tan, adj, adjt, k, out, n, code[p, 5], code[p, 7], code[p, 4], code[p, 6], code[p, 8],
                        code[p, 9])
        elif kind == {TERNARY}:
            _hvp3(code[p, 1], buf, tan, adj, adjt, k, out, n, code[p, 4], code[p, 5], code[p, 6], code[p, 7],
                  code[p, 8], code[p, 9])
'''


def get_lane_sweeps(rules: dict | None = None):
    """``(jvp_run, hvp_sweep, mark_fixed)`` for the rule table ``rules`` (default: the current one), with
    the VM's numbering of rules (:func:`dualad.kernels.vm.vm_rules`).  Generated and imported
    once per rule table and process; each sweep compiles on its first call for a dtype, once
    per machine (Numba's disk cache).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.kernels.vm import UNARY, WIDTH, vm_rules
    >>> jvp_run, hvp_sweep, _ = get_lane_sweeps()
    >>> sub = [r.name for r in vm_rules()[1]].index("sin")
    >>> code = np.zeros((1, WIDTH), np.int64)
    >>> code[0, :6] = [UNARY, sub, 2, 1, 1, 1]              # buf[2] = sin(buf[1])
    >>> buf, tan = np.array([0.0, 0.5, 0.0]), np.array([[0.0], [1.0], [0.0]])
    >>> jvp_run(buf, tan, code, np.zeros(0, np.int64), 0, 1)
    >>> bool(np.isclose(tan[2, 0], np.cos(0.5)))            # d sin(x) along 1
    True
    >>> adj, adjt = np.array([0.0, 0.0, 1.0]), np.zeros((3, 1))
    >>> hvp_sweep(buf, tan, adj, adjt, code, np.zeros(0, np.int64), 0, 1)
    >>> bool(np.isclose(adj[1], np.cos(0.5))), bool(np.isclose(adjt[1, 0], -np.sin(0.5)))
    (True, True)
    """
    module = generated_module("dualad_vm_lanes", lanes_source, rules)[0]
    return module.jvp_run, module.hvp_sweep, module.mark_fixed
