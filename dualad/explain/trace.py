"""Evaluation, tangent and adjoint traces, laid out as in lecture notes on AD.

The function runs once on :class:`~dualad.Variable` leaves of a tape that keeps every value it
records; each leaf's value is a :class:`~dualad.Dual` carrying one tangent direction (the
Duals are made before the tape, so the tape's tag is the newer one: forward-over-reverse).  So
one run gives every intermediate value *and* its tangent; one backward sweep of the same tape,
keeping every node's adjoint, gives the reverse trace.  The numbering follows Griewank &
Walther and Baydin et al.: inputs are ``v_{1-n} .. v_0``, intermediates ``v_1, v_2, ...``.
"""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import numpy as np

from ..core import device
from ..core.dispatch import Active, new_tag, strip
from ..forward.dual import Dual
from ..reverse.tape import Tape, elementwise_adjoints
from ..reverse.variable import Variable
from ..rules.base import ElementwiseRule
from ..rules.structural import EinsumOp, LinearOp
from ..transforms.pytree import as_input

__all__ = ["Trace", "trace", "summarize"]

MINUS = "\u2212"  # the operator; negative numbers keep ASCII "-"
_SUBSCRIPT = str.maketrans("-0123456789", "₋₀₁₂₃₄₅₆₇₈₉")


# -- text helpers ------------------------------------------------------------------------------


def _sub(i) -> str:
    return str(i).translate(_SUBSCRIPT)


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _dot(sym: str) -> str:
    """``v₁`` -> ``v̇₁`` (a dot above the first letter; precomposed where Unicode has one, ẋ)."""
    return _nfc(sym[0] + "\u0307" + sym[1:])


def _bar(sym: str) -> str:
    """``v₁`` -> ``v̄₁`` (a macron over the first letter; precomposed where Unicode has one, ȳ)."""
    return _nfc(sym[0] + "\u0304" + sym[1:])


def _width(s: str) -> int:
    return sum(1 for ch in s if not unicodedata.combining(ch))


def _pad(s: str, width: int) -> str:
    return s + " " * (width - _width(s))


def _num(x) -> str:
    """A number as the lecture notes write it: at most three decimals, no trailing zeros
    (a complex one as ``a+bi``)."""
    if np.iscomplexobj(x):
        x = complex(x)
        if x.imag == 0.0:
            return _num(x.real)
        im = _num(abs(x.imag))
        re = "" if x.real == 0.0 else _num(x.real) + ("-" if x.imag < 0 else "+")
        return f"{re if re else ('-' if x.imag < 0 else '')}{im}i"
    x = float(x)
    if x != x:
        return "nan"
    if x in (np.inf, -np.inf):
        return "inf" if x > 0 else "-inf"
    if x == 0.0:
        return "0"
    if abs(x) >= 1e6 or abs(x) < 1e-3:
        return f"{x:.3g}"
    s = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _wrap(s: str) -> str:
    """A negative number inside a larger expression gets parentheses."""
    return f"({s})" if s.startswith("-") else s


def summarize(a, items: int = 4) -> str:
    """A value in a few characters: a number, or an array's shape and a few of its numbers.

    Parameters
    ----------
    a : array_like
        The value (active values are summarised by their primal).
    items : int
        Arrays with more elements show the first ``items - 1``, an ellipsis and the last.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.explain.trace import summarize
    >>> summarize(np.float64(2.0)), summarize(np.log(2.0))
    ('2', '0.693')
    >>> summarize(np.arange(6.0).reshape(2, 3))
    '(2, 3) [0, 1, 2, …, 5]'
    """
    a = np.asarray(strip(a))
    if a.ndim == 0:
        return _num(a)
    flat = a.reshape(-1)
    if flat.size <= items:
        body = ", ".join(_num(v) for v in flat)
    else:
        body = ", ".join(_num(v) for v in flat[: items - 1]) + ", …, " + _num(flat[-1])
    return f"{tuple(a.shape)} [{body}]"


def _signed_sum(terms: list, minus: str) -> str:
    """Join ``(sign, text)`` terms: ``a + b − c``; a leading negative term gets ``minus``."""
    out = ""
    for k, (sign, text) in enumerate(terms):
        if k == 0:
            out = text if sign > 0 else minus + text
        else:
            out += (" + " if sign > 0 else f" {MINUS} ") + text
    return out


def _signed_number(sign: int, value) -> tuple[int, str]:
    """``(sign, |value|)`` so that ``a − (−0.959)`` reads ``a + 0.959`` as in the lecture."""
    s = _num(value)
    if s.startswith("-"):
        return -sign, s[1:]
    return sign, s


# -- how each op reads ---------------------------------------------------------------------------

# Elementwise rules read as their declaration's ``text`` says (ElementwiseRule.text): the value
# as an expression of the operands {a}, {b}, {c}, and per operand the partial derivative as a
# *factor*: "1", "-1", "/<expr>" (divide by it) or "<expr>" (multiply by it).  add and subtract
# (value None) are written as signed sums.  A rule without text reads ``name a`` /
# ``name(a, b)`` with partials ``name′(a)`` / ``∂₁name(a, b)``.

_EINSUM_TEXT = {
    "ij,jk->ik": "{a} @ {b}",
    "ij,j->i": "{a} @ {b}",
    "j,jk->k": "{a} @ {b}",
    "i,i->": "{a} · {b}",
}

_LETTERS = "abcdefgh"


def _fill(template: str, args: list) -> str:
    return template.format(**{_LETTERS[k]: a for k, a in enumerate(args[: len(_LETTERS)])})


def _rule_primal(rule: ElementwiseRule, args: list) -> str:
    text = rule.text
    if text is not None and text[0] is not None:
        return _fill(text[0], args)
    if rule.nin == 1:
        return f"{rule.name} {args[0]}"
    return f"{rule.name}({', '.join(args)})"


def _rule_factor(rule: ElementwiseRule, p: int, args: list) -> tuple[str, bool]:
    """Operand ``p``'s partial as a factor, and whether it came from a template."""
    text = rule.text
    if text is not None and text[1] is not None:
        return _fill(text[1][p], args), True
    if rule.nin == 1:
        return f"{rule.name}′({args[0]})", False
    return f"∂{_sub(p + 1)}{rule.name}({', '.join(args)})", False


def _fmt_index(index) -> str:
    parts = []
    for ix in index if isinstance(index, tuple) else (index,):
        if isinstance(ix, slice):
            s = "" if ix.start is None else str(ix.start)
            s += ":" + ("" if ix.stop is None else str(ix.stop))
            if ix.step not in (None, 1):
                s += f":{ix.step}"
            parts.append(s)
        elif ix is None:
            parts.append("None")
        elif ix is Ellipsis:
            parts.append("...")
        elif isinstance(ix, np.ndarray):
            parts.append(f"idx{tuple(ix.shape)}")
        else:
            parts.append(str(ix))
    return ", ".join(parts)


def _struct_primal(op, params: dict, args: list, out_shape: tuple) -> str:
    name = op.name
    if name == "getitem":
        return f"{args[0]}[{_fmt_index(params.get('index', ()))}]"
    if name == "sum":
        return f"sum {args[0]}" if out_shape == () else f"sum({args[0]}, axis={params.get('axis')})"
    if name == "reshape":
        return f"reshape({args[0]}, {params.get('shape')})"
    if name == "broadcast_to":
        return f"broadcast({args[0]}, {params.get('shape')})"
    if name == "transpose":
        axes = tuple(params.get("axes", ()))
        if axes == tuple(range(len(axes)))[::-1]:
            return f"{args[0]}ᵀ"
        return f"transpose({args[0]}, {axes})"
    if name == "einsum":
        subs = params.get("subscripts", "")
        if subs in _EINSUM_TEXT and len(args) == 2:
            return _fill(_EINSUM_TEXT[subs], args)
        return f"einsum('{subs}', {', '.join(args)})"
    if name == "where":
        return f"where(cond, {', '.join(args)})"
    return f"{name}({', '.join(args)})"


# -- recording -----------------------------------------------------------------------------------


class _KeepingTape(Tape):
    """A tape that keeps every recorded value (the base Tape keeps only shapes)."""

    __slots__ = ("values",)

    def __init__(self):
        super().__init__()
        self.values: dict = {}

    def record(self, op, in_nodes, residual, params, value) -> int:
        node = super().record(op, in_nodes, residual, params, value)
        self.values[node] = value
        return node


def _strip_tree(x):
    if isinstance(x, tuple):
        return tuple(_strip_tree(v) for v in x)
    if isinstance(x, list):
        return [_strip_tree(v) for v in x]
    return strip(x)


class _Operand:
    __slots__ = ("node", "sym", "value", "tangent", "const")

    def __init__(self, node, sym, value, tangent, const):
        self.node, self.sym, self.value, self.tangent, self.const = node, sym, value, tangent, const


def _directions(xs: list, direction) -> list:
    if direction is None:
        ds = [np.zeros(x.shape, dtype=x.dtype) for x in xs]
        if xs[0].size:
            ds[0].reshape(-1)[0] = 1.0
        return ds
    if len(xs) == 1 and not (isinstance(direction, tuple) and len(direction) == 1):
        direction = (direction,)
    if not isinstance(direction, (tuple, list)) or len(direction) != len(xs):
        raise ValueError(f"direction= needs one tangent per argument ({len(xs)}), e.g. direction=(1.0, 0.0)")
    ds = []
    for k, (x, d) in enumerate(zip(xs, direction)):
        d = np.asarray(d, dtype=x.dtype)
        if d.shape != x.shape:
            try:
                d = np.broadcast_to(d, x.shape)
            except ValueError:
                raise ValueError(f"direction for argument {k} has shape {d.shape}, the argument has {x.shape}") from None
        ds.append(np.array(d, copy=True))
    return ds


# -- the trace -------------------------------------------------------------------------------------


class Trace:
    """The evaluation, tangent and adjoint traces of one function at one point.

    Made by :func:`trace`.  ``print(t)`` shows the three tables; :meth:`to_dot` and
    :meth:`render` draw the computation graph.

    Attributes
    ----------
    value : ndarray
        ``f(*args)``.
    tangent : ndarray
        The directional derivative ``J ẋ`` along :attr:`direction` (forward mode).
    grad : tuple of ndarray
        One adjoint per argument: ``ȳᵀ J`` (reverse mode; the gradient for scalar ``f``).
    hvp : tuple of ndarray
        The tangents of those adjoints: ``∇²(ȳᵀf) ẋ``, a Hessian-vector product for free
        (the adjoint sweep ran on dual numbers: forward-over-reverse).
    direction : tuple of ndarray
        The tangent direction ``ẋ``, one array per argument.
    cotangent : ndarray
        The seed ``ȳ`` of the adjoint sweep.
    primal_rows, tangent_rows, adjoint_rows : list of tuple of str
        The tables' rows: ``(lhs, expression, substituted, value)``, empty strings where a
        column does not apply.
    tape : Tape
        The recorded Wengert list (it keeps every value), for inspection: arrays ``f`` closed
        over are not locked against writes once the trace is made, so do not sweep it again.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.explain.trace import trace
    >>> t = trace(lambda x: np.sum(np.exp(x)), np.array([0.0, 1.0]))
    >>> t.grad[0]
    array([1.        , 2.71828183])
    >>> print(t.primal_table())
      v₀ = x      = (2,) [0, 1]
      v₁ = exp v₀ = (2,) [1, 2.718]
      v₂ = sum v₁ = 3.718
      y  = v₂     = 3.718
    """

    def __init__(self, name, xs, direction, tape, leaves, out, y_node, ct, keep, adj, tag):
        self.name = name
        self.tape = tape
        self.direction = tuple(direction)
        self.cotangent = ct
        n = len(xs)
        self._n = n
        self._tag = tag
        # Lecture numbering: inputs v_{1-n} .. v_0, then every recorded entry in order.
        self._index: dict[int, int] = {leaf.node: k - n + 1 for k, leaf in enumerate(leaves)}
        for i, entry in enumerate(tape.entries, 1):
            self._index[entry.out_node] = i
        self._values: dict = dict(tape.values)
        for leaf in leaves:
            self._values[leaf.node] = leaf.value
        self._leaf_nodes = [leaf.node for leaf in leaves]
        self._x_names = ["x"] if n == 1 else [f"x{_sub(k + 1)}" for k in range(n)]
        self._y_node = y_node
        y = out.value if y_node is not None else out
        self.value = np.asarray(strip(y))
        self.tangent = self._tangent_of(y, self.value.shape)
        self._keep = keep
        grads, hvps = [], []
        for leaf, x in zip(leaves, xs):
            a = adj.get(leaf.node)
            if a is None:
                grads.append(np.zeros(x.shape, dtype=x.dtype))
                hvps.append(np.zeros(x.shape, dtype=x.dtype))
                continue
            grads.append(np.asarray(strip(a))[0])
            hvps.append(self._tangent_of(a, (1,) + x.shape)[0])
        self.grad = tuple(grads)
        self.hvp = tuple(hvps)
        self._ops = [self._operands(e) for e in tape.entries]
        self.primal_rows = [tuple(_nfc(c) for c in r) for r in self._primal_rows()]
        self.tangent_rows = [tuple(_nfc(c) for c in r) for r in self._tangent_rows()]
        self.adjoint_rows = [tuple(_nfc(c) for c in r) for r in self._adjoint_rows()]

    # -- values ------------------------------------------------------------------------------------
    def _tangent_of(self, v, shape) -> np.ndarray:
        if type(v) is Dual and v.tag == self._tag:
            return np.asarray(strip(v.lane_tangents[0]))
        return np.zeros(shape, dtype=np.asarray(strip(v)).dtype)

    def _sym(self, node: int) -> str:
        return "v" + _sub(self._index[node])

    def _operands(self, entry) -> list:
        op, in_nodes, residual, params, out_node, out_shape = entry
        ops = []
        for p, n in enumerate(in_nodes):
            if n is not None:
                v = self._values[n]
                value = np.asarray(strip(v))
                ops.append(_Operand(n, self._sym(n), value, self._tangent_of(v, value.shape), False))
                continue
            c = None
            if isinstance(op, (ElementwiseRule, EinsumOp)):
                try:
                    c = np.asarray(strip(residual[p]))
                except (TypeError, IndexError):
                    c = None
            sym = _num(c) if c is not None and c.ndim == 0 else "c"
            ops.append(_Operand(None, sym, c, None, True))
        return ops

    def _scalar(self, entry, ops) -> bool:
        return tuple(entry.out_shape) == () and all(o.value is not None and o.value.ndim == 0 for o in ops)

    # -- the three tables ------------------------------------------------------------------------
    def _expr(self, entry, ops, args: list) -> str:
        op, params = entry.op, entry.params
        if isinstance(op, ElementwiseRule):
            if op.name in ("add", "subtract"):
                sign = 1 if op.name == "add" else -1
                return _signed_sum([(1, args[0]), (sign, args[1])], MINUS)
            return _rule_primal(op, args)
        return _struct_primal(op, params or {}, args, tuple(entry.out_shape))

    def _primal_rows(self) -> list:
        rows = []
        for k, node in enumerate(self._leaf_nodes):
            rows.append((self._sym(node), self._x_names[k], "", summarize(self._values[node])))
        for entry, ops in zip(self.tape.entries, self._ops):
            out = entry.out_node
            expr = self._expr(entry, ops, [o.sym for o in ops])
            subst = ""
            if self._scalar(entry, ops):
                if isinstance(entry.op, ElementwiseRule) and entry.op.name in ("add", "subtract"):
                    sign = 1 if entry.op.name == "add" else -1
                    subst = _signed_sum([(1, _num(ops[0].value)), _signed_number(sign, ops[1].value)], "-")
                else:
                    subst = self._expr(entry, ops, [_wrap(_num(o.value)) for o in ops])
            rows.append((self._sym(out), expr, subst, summarize(self._values[out])))
        y = self._sym(self._y_node) if self._y_node is not None else "const"
        rows.append(("y", y, "", summarize(self.value)))
        return rows

    def _tangent_terms(self, entry, ops, numeric: bool) -> str:
        op = entry.op
        if isinstance(op, ElementwiseRule):
            sym_args = [o.sym for o in ops]
            num_args = [_wrap(_num(o.value)) for o in ops] if numeric else sym_args
            partials = None
            terms = []
            for p, o in enumerate(ops):
                if o.const:
                    continue
                if op.wirtinger is not None and any(np.iscomplexobj(o2.value) for o2 in ops):
                    # not holomorphic on complex values: a real-linear map, not a product
                    t = _wrap(_num(o.tangent)) if numeric else _dot(o.sym)
                    terms.append((1, f"{op.name}′({(num_args if numeric else sym_args)[p]})[{t}]"))
                    continue
                factor, known = _rule_factor(op, p, num_args if numeric else sym_args)
                if numeric and not known:
                    if partials is None:
                        partials = op.evaluate(*[o2.value for o2 in ops])[1:]
                    factor = _wrap(_num(partials[p]))
                t = _num(o.tangent) if numeric else _dot(o.sym)
                if known and factor in ("1", "-1"):
                    sign = 1 if factor == "1" else -1
                    terms.append(_signed_number(sign, o.tangent) if numeric else (sign, t))
                elif factor.startswith("/"):
                    terms.append((1, f"{_wrap(t) if numeric else t} / {factor[1:]}"))
                else:
                    terms.append((1, f"{_wrap(t) if numeric else t} × {factor}"))
            return _signed_sum(terms, "-" if numeric else MINUS) if terms else "0"
        if numeric:
            return ""
        if isinstance(op, LinearOp):
            args = [("0" if o.const else _dot(o.sym)) for o in ops]
            return self._expr(entry, ops, args)
        if isinstance(op, EinsumOp):
            terms = []
            for p, o in enumerate(ops):
                if o.const:
                    continue
                args = [o2.sym for o2 in ops]
                args[p] = _dot(o.sym)
                terms.append((1, self._expr(entry, ops, args)))
            return _signed_sum(terms, MINUS)
        out = self._sym(entry.out_node)
        terms = [(1, f"∂{out}/∂{o.sym} · {_dot(o.sym)}") for o in ops if not o.const]
        return _signed_sum(terms, MINUS)

    def _tangent_rows(self) -> list:
        rows = []
        for k, node in enumerate(self._leaf_nodes):
            rows.append((_dot(self._sym(node)), _dot(self._x_names[k]), "", summarize(self.direction[k])))
        for entry, ops in zip(self.tape.entries, self._ops):
            out = entry.out_node
            subst = self._tangent_terms(entry, ops, True) if self._scalar(entry, ops) else ""
            tan = self._tangent_of(self._values[out], tuple(entry.out_shape))
            rows.append((_dot(self._sym(out)), self._tangent_terms(entry, ops, False), subst, summarize(tan)))
        if self._y_node is None:
            rows.append(("ẏ", "0", "", ""))
        else:
            rows.append(("ẏ", _dot(self._sym(self._y_node)), "", summarize(self.tangent)))
        return rows

    def _contributions(self, entry, g) -> list:
        op, in_nodes, residual, params, out_node, out_shape = entry
        needed = [n is not None for n in in_nodes]
        try:
            with np.errstate(all="ignore"):
                if isinstance(op, ElementwiseRule):
                    vals = [strip(r) for r in residual]
                    return list(elementwise_adjoints(op, vals, g, needed, tuple(out_shape), [None] * len(vals)))
                return list(op.backward(_strip_tree(residual), g, params, needed))
        except Exception:  # a display detail only: the final adjoints come from the sweep itself
            return [None] * len(in_nodes)

    def _adjoint_rows(self) -> list:
        rows = []
        if self._y_node is None:
            for k, node in enumerate(self._leaf_nodes):
                rows.append((_bar(self._x_names[k]), "0", "", ""))
            return rows
        y_bar = _bar(self._sym(self._y_node))
        rows.append((y_bar, "ȳ", "", summarize(self.cotangent)))
        running: dict = {}
        for entry, ops in zip(reversed(self.tape.entries), reversed(self._ops)):
            op, out = entry.op, entry.out_node
            if out not in self._keep:
                continue
            g = np.asarray(strip(self._keep[out]))
            contribs = self._contributions(entry, g)
            scalar = self._scalar(entry, ops)
            gsym = _bar(self._sym(out))
            for p, o in enumerate(ops):
                if o.const:
                    continue
                j = o.sym
                first = o.node not in running
                c = contribs[p]
                c = np.zeros(o.value.shape, dtype=g.dtype) if c is None else np.asarray(strip(c))[0]
                running[o.node] = c if first else running[o.node] + c
                prefix = "" if first else f"{_bar(j)} + "
                mid = f"{prefix}{gsym} ∂{self._sym(out)}/∂{j}"
                if isinstance(op, ElementwiseRule) and op.wirtinger is not None and np.iscomplexobj(o.value):
                    third = f"{prefix}{op.name}′({j})ᵀ[{gsym}]"  # the transpose of a real-linear map
                elif isinstance(op, ElementwiseRule):
                    factor, _ = _rule_factor(op, p, [o2.sym for o2 in ops])
                    if factor == "-1":
                        prod = f"{gsym} × ({MINUS}1)"
                    elif factor.startswith("/"):
                        prod = f"{gsym} / {factor[1:]}"
                    else:
                        prod = f"{gsym} × {factor}"
                    third = prefix + prod
                elif isinstance(op, LinearOp) and len(ops) == 1:
                    third = f"{prefix}{op.name}ᵀ({gsym})"
                else:
                    third = ""
                value = _num(running[o.node]) if scalar and np.ndim(running[o.node]) == 0 else summarize(running[o.node])
                rows.append((_bar(j), mid, third, value))
        for k, node in enumerate(self._leaf_nodes):
            rows.append((_bar(self._x_names[k]), _bar(self._sym(node)), "", summarize(self.grad[k])))
        return rows

    # -- text --------------------------------------------------------------------------------------
    @staticmethod
    def _table(rows: list) -> str:
        widths = [max((_width(r[k]) for r in rows), default=0) for k in range(4)]
        lines = []
        for r in rows:
            parts = [_pad(r[0], widths[0])]
            for k in (1, 2, 3):
                if widths[k] == 0:
                    continue
                parts.append(("= " + _pad(r[k], widths[k])) if r[k] else " " * (widths[k] + 2))
            lines.append(("  " + " ".join(parts)).rstrip())
        return "\n".join(lines)

    def primal_table(self) -> str:
        """The forward primal (evaluation) trace as aligned text."""
        return self._table(self.primal_rows)

    def tangent_table(self) -> str:
        """The forward tangent (derivative) trace as aligned text."""
        return self._table(self.tangent_rows)

    def adjoint_table(self) -> str:
        """The reverse adjoint trace as aligned text, in the order the sweep runs."""
        return self._table(self.adjoint_rows)

    def _header(self) -> str:
        at = ", ".join(f"{x} = {summarize(v)}" for x, v in zip(self._x_names, (self._values[n] for n in self._leaf_nodes)))
        return f"Trace of {self.name}({', '.join(self._x_names)}) at {at}"

    def __str__(self) -> str:
        return _nfc(self._text())

    def _text(self) -> str:
        dirs = ", ".join(f"{_dot(x)} = {summarize(d)}" for x, d in zip(self._x_names, self.direction))
        return "\n".join(
            [
                self._header(),
                "",
                "Forward primal trace",
                self.primal_table(),
                "",
                f"Forward tangent trace ({dirs})",
                self.tangent_table(),
                "",
                f"Reverse adjoint trace (ȳ = {summarize(self.cotangent)})",
                self.adjoint_table(),
            ]
        )

    __repr__ = __str__

    # -- the graph --------------------------------------------------------------------------------
    def to_dot(self, values: bool = True) -> str:
        """The computation graph as Graphviz DOT text.

        Parameters
        ----------
        values : bool
            Label each node with its value, tangent and adjoint, and each edge of a scalar
            elementwise op with its partial derivative.

        Returns
        -------
        str
            ``digraph`` source; render it with :meth:`render` or any Graphviz tool.

        Examples
        --------
        >>> import numpy as np
        >>> from dualad.explain.trace import trace
        >>> dot = trace(lambda x1, x2: np.log(x1) + x1 * x2 - np.sin(x2), 2.0, 5.0).to_dot()
        >>> dot.splitlines()[0]
        'digraph trace {'
        >>> "ln v₋₁" in dot
        True
        """

        def q(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

        lines = [
            "digraph trace {",
            "  rankdir=LR;",
            '  graph [fontname="DejaVu Sans", fontsize=11];',
            '  node [fontname="DejaVu Sans", fontsize=11];',
            '  edge [fontname="DejaVu Sans", fontsize=9, color="#555555"];',
        ]
        grad_of = dict(zip(self._leaf_nodes, self.grad))
        for k, node in enumerate(self._leaf_nodes):
            label = f"{self._x_names[k]} = {self._sym(node)}"
            if values:
                label += f"\n{summarize(self._values[node])}\nv̇ {summarize(self.direction[k])}   v̄ {summarize(grad_of[node])}"
            lines.append(f'  n{node} [label={q(label)}, shape=ellipse, style=filled, fillcolor="#dbe9f6"];')
        for entry, ops in zip(self.tape.entries, self._ops):
            op, out = entry.op, entry.out_node
            sym = self._sym(out)
            label = f"{sym} = {self._expr(entry, ops, [o.sym for o in ops])}"
            if values:
                tan = self._tangent_of(self._values[out], tuple(entry.out_shape))
                bar = self._keep.get(out)
                bar_s = summarize(np.asarray(strip(bar))[0]) if bar is not None else "0"
                label += f"\n{summarize(self._values[out])}\nv̇ {summarize(tan)}   v̄ {bar_s}"
            lines.append(f'  n{out} [label={q(label)}, shape=box, style="rounded,filled", fillcolor="#f7f7f7"];')
            partials = None
            if values and isinstance(op, ElementwiseRule) and self._scalar(entry, ops):
                with np.errstate(all="ignore"):
                    partials = op.evaluate(*[o.value for o in ops])[1:]
            for p, o in enumerate(ops):
                if o.const:
                    cid = f"c{out}_{p}"
                    lines.append(f"  {cid} [label={q(o.sym)}, shape=plaintext];")
                    lines.append(f"  {cid} -> n{out} [style=dashed];")
                    continue
                attrs = ""
                if partials is not None:
                    attrs = f" [label={q('∂ ' + _num(partials[p]))}]"
                lines.append(f"  n{o.node} -> n{out}{attrs};")
        label = "y"
        if values:
            label += f"\n{summarize(self.value)}"
        lines.append(f'  y [label={q(label)}, shape=doublecircle, style=filled, fillcolor="#e3f1df"];')
        if self._y_node is not None:
            lines.append(f"  n{self._y_node} -> y;")
        lines.append("}")
        return _nfc("\n".join(lines) + "\n")

    def render(self, path, format: str | None = None, values: bool = True) -> Path:
        """Draw the computation graph into an SVG, PNG or PDF file with Graphviz.

        Uses the ``graphviz`` Python package when it is installed, else the ``dot`` program.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write; the format comes from the suffix unless ``format`` is given.
        format : {"svg", "png", "pdf"}, optional
        values : bool
            As in :meth:`to_dot`.

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        RuntimeError
            When Graphviz is not installed: install the optional extra
            ``pip install "dualad[graphviz]"`` and Graphviz's ``dot`` program
            (``apt-get install graphviz``, ``brew install graphviz``, ``conda install graphviz``).

        Examples
        --------
        >>> import numpy as np, tempfile, os
        >>> from dualad.explain.trace import trace
        >>> t = trace(lambda x: np.sin(x) * x, 1.0)
        >>> path = os.path.join(tempfile.mkdtemp(), "graph.svg")
        >>> try:
        ...     written = t.render(path)
        ... except RuntimeError:          # Graphviz is optional
        ...     written = None
        """
        path = Path(path)
        fmt = (format or path.suffix.lstrip(".") or "svg").lower()
        if fmt not in ("svg", "png", "pdf"):
            raise ValueError(f"render: unsupported format {fmt!r}; use svg, png or pdf")
        if path.suffix == "":
            path = path.with_suffix("." + fmt)
        data = _run_graphviz(self.to_dot(values=values), fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


_NO_GRAPHVIZ = (
    'Trace.render needs Graphviz: install the optional extra (pip install "dualad[graphviz]") and '
    "Graphviz's `dot` program (apt-get install graphviz / brew install graphviz / conda install graphviz). "
    "Trace.to_dot() gives the DOT text without it."
)


def _run_graphviz(dot_text: str, fmt: str) -> bytes:
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(dot_text).pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            pass
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(_NO_GRAPHVIZ)
    import subprocess

    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"Graphviz dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def trace(f, *args, direction=None, cotangent=None) -> Trace:
    """Run ``f`` once and show its work: the primal, tangent and adjoint traces.

    ``f`` is evaluated on values that record every operation (a Wengert list that keeps each
    value), each value carrying a tangent along ``direction`` (forward mode), and the list is
    swept once backwards from ``cotangent`` (reverse mode).  Inputs are numbered
    ``v_{1-n} .. v_0`` and intermediates ``v_1, v_2, ...``, as in Griewank & Walther and in
    Baydin et al.'s survey.  Arrays are summarised by their shape and a few numbers.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays returning one array (a scalar for the usual gradient).
    *args : array_like
        The point: one float array (or number) per argument of ``f``.
    direction : array_like or sequence of array_like, optional
        The tangent ``ẋ``, one per argument.  Default: the unit vector along the first
        element of the first argument (``ẋ₁ = 1, ẋ₂ = 0`` in the lecture example).
    cotangent : array_like, optional
        The seed ``ȳ`` of the adjoint sweep, shaped like the output.  Default: ones.

    Returns
    -------
    Trace
        ``print(t)`` shows the three tables; ``t.value``, ``t.tangent`` (``J ẋ``),
        ``t.grad`` (``ȳᵀ J``, one array per argument) and ``t.hvp`` hold the numbers;
        ``t.to_dot()`` and ``t.render(path)`` draw the computation graph.

    Examples
    --------
    The example of Baydin et al., *Automatic differentiation in machine learning: a survey*:

    >>> import numpy as np
    >>> from dualad.explain.trace import trace
    >>> def f(x1, x2):           # ln x1 + x1 x2 − sin x2, in the lecture's order of operations
    ...     v1 = np.log(x1)
    ...     v2 = x1 * x2
    ...     v3 = np.sin(x2)
    ...     v4 = v1 + v2
    ...     return v4 - v3
    >>> t = trace(f, 2.0, 5.0)
    >>> print(t.primal_table())
      v₋₁ = x₁                        = 2
      v₀  = x₂                        = 5
      v₁  = ln v₋₁   = ln 2           = 0.693
      v₂  = v₋₁ × v₀ = 2 × 5          = 10
      v₃  = sin v₀   = sin 5          = -0.959
      v₄  = v₁ + v₂  = 0.693 + 10     = 10.693
      v₅  = v₄ − v₃  = 10.693 + 0.959 = 11.652
      y   = v₅                        = 11.652
    >>> print(t.tangent_table())
      v̇₋₁ = ẋ₁                                  = 1
      v̇₀  = ẋ₂                                  = 0
      v̇₁  = v̇₋₁ / v₋₁           = 1 / 2         = 0.5
      v̇₂  = v̇₋₁ × v₀ + v̇₀ × v₋₁ = 1 × 5 + 0 × 2 = 5
      v̇₃  = v̇₀ × cos v₀         = 0 × cos 5     = 0
      v̇₄  = v̇₁ + v̇₂             = 0.5 + 5       = 5.5
      v̇₅  = v̇₄ − v̇₃             = 5.5 − 0       = 5.5
      ẏ   = v̇₅                                  = 5.5
    >>> print(t.adjoint_table())
      v̄₅  = ȳ                                  = 1
      v̄₄  = v̄₅ ∂v₅/∂v₄        = v̄₅ × 1         = 1
      v̄₃  = v̄₅ ∂v₅/∂v₃        = v̄₅ × (−1)      = -1
      v̄₁  = v̄₄ ∂v₄/∂v₁        = v̄₄ × 1         = 1
      v̄₂  = v̄₄ ∂v₄/∂v₂        = v̄₄ × 1         = 1
      v̄₀  = v̄₃ ∂v₃/∂v₀        = v̄₃ × cos v₀    = -0.284
      v̄₋₁ = v̄₂ ∂v₂/∂v₋₁       = v̄₂ × v₀        = 5
      v̄₀  = v̄₀ + v̄₂ ∂v₂/∂v₀   = v̄₀ + v̄₂ × v₋₁  = 1.716
      v̄₋₁ = v̄₋₁ + v̄₁ ∂v₁/∂v₋₁ = v̄₋₁ + v̄₁ / v₋₁ = 5.5
      x̄₁  = v̄₋₁                                = 5.5
      x̄₂  = v̄₀                                 = 1.716
    >>> float(t.value), float(t.tangent), [round(float(g), 3) for g in t.grad]
    (11.652071455223084, 5.5, [5.5, 1.716])
    """
    if not callable(f):
        raise TypeError(f"trace(f, *args): f must be callable, got {type(f).__name__}")
    if not args:
        raise TypeError("trace(f, *args) needs at least one argument")
    xs = []
    for k, a in enumerate(args):
        if isinstance(a, Active):
            raise TypeError("trace(f, *args) takes plain arrays; call dualad.primal(x) on active values first")
        if device.is_device(a):
            raise TypeError("trace(f, *args) prints values, so it takes host (NumPy) arrays: pass x.get() for a device array")
        xs.append(np.array(as_input(a, f"argument {k}"), copy=True))
    dirs = _directions(xs, direction)
    # Duals first, tape second: the tape's tag is newer, so each recorded value is a Dual
    # (forward-over-reverse) and carries its tangent; a fresh tag keeps them apart from any
    # Duals the user made by hand.
    tag = new_tag()
    duals = [Dual.make(x, d[None], tag, True) for x, d in zip(xs, dirs)]
    tape = _KeepingTape()
    leaves = [Variable.leaf(d, tape) for d in duals]
    out = f(*leaves)
    if isinstance(out, (tuple, list, dict)):
        raise TypeError("trace(f, *args) needs f to return one array; trace each output separately")
    y_node = out.node if isinstance(out, Variable) and out.tape is tape else None
    y_val = np.asarray(strip(out))
    if y_val.dtype.kind not in "fc":
        y_val = y_val.astype(np.float64)
    if cotangent is None:
        ct = np.ones(y_val.shape, dtype=y_val.dtype)
    else:
        ct = np.asarray(cotangent, dtype=y_val.dtype)
        if ct.shape != y_val.shape:
            raise ValueError(f"cotangent shape {ct.shape} does not match the output's {y_val.shape}")
    keep: dict = {}
    adj: dict = {}
    if y_node is not None:
        adj = tape.backward({y_node: ct[None]}, keep=keep)
        keep.setdefault(y_node, ct[None])
    name = getattr(f, "__name__", "f")
    if not name.isidentifier():  # lambdas
        name = "f"
    result = Trace(name, xs, dirs, tape, leaves, out, y_node, ct, keep, adj, tag)
    # The tape made the arrays f closed over read-only while it might still be swept; the
    # trace has swept it, so they are the caller's to write into again.
    tape.release()
    return result
