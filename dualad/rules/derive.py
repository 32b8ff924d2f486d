"""Code derived from a rule's source: its second derivatives, and copies that compute only some
of its outputs.

A rule ``fn(*xs) -> (value, *partials)`` is straight-line NumPy code.  :func:`tangent_source`
rewrites it into ``tangent(*xs, *ds) -> (value, *partials, *dpartials)`` where ``dpartials[i]``
is the directional derivative of ``partials[i]`` along ``ds``: every ufunc call and operator of
the rule is replaced by a call of *that op's own rule* (``x * y`` → the ``multiply`` rule), whose
partials multiply the operands' tangents.  So no second derivative is written anywhere: it is
the rule table applied to the rule table, exactly what evaluating the rule on dual numbers does
at a nested level, but as scalar code that Numba compiles into one fused kernel.

Products of a partial and a tangent are *strong zeros* (an exact zero on either side gives 0,
even against inf or nan), as everywhere else in dualad.  Comparisons and boolean predicates
(``x > 0``, ``np.isnan``) have no tangent.  A rule using anything else (a loop, a call of an
unknown function) is reported with :class:`NotDerivable`; callers then fall back to evaluating
the rule on dual values.

:func:`restricted` (with :func:`without_value`, :func:`with_value`, :func:`value_partials`,
:func:`partials_at`) copies a rule keeping only the outputs a kernel writes, dropping the
statements only the dropped outputs read; :func:`costly_partials` tells which rules have partials
worth computing together with the value.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types

import numpy as np

from .base import FUNCTION_RULES, RULES, UFUNC_RULES, ElementwiseRule

__all__ = ["NotDerivable", "tangent_source", "derivable", "check_all", "restricted", "without_value", "with_value", "value_partials",
           "partials_at", "costly_partials"]

_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide, ast.Pow: np.power}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.BitOr: "|", ast.BitAnd: "&"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


class NotDerivable(NotImplementedError):
    """The rule's source uses a construct the tangent transform does not handle."""


class _Writer:
    def __init__(self, rule: ElementwiseRule):
        self.rule = rule
        self.lines: list[str] = []
        self.rules_used: list[str] = []
        self.count = 0
        self.env: dict[str, tuple[str, str | None]] = {}

    def temp(self, prefix: str) -> str:
        self.count += 1
        return f"_{prefix}{self.count}"

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    def call_rule(self, rule: ElementwiseRule, args: list[tuple[str, str | None]]) -> tuple[str, str | None]:
        """``rule(*args)`` with its tangent Σ ∂_i · t_i from the rule's own partials."""
        if any(t is not None and i not in rule.argnums for i, (_, t) in enumerate(args)):
            # a tangent into an input the rule does not differentiate (an order): evaluating on
            # dual numbers raises, naming it, where that tangent is not zero
            raise NotDerivable(f"{rule.name} is not differentiable in every input its tangent reaches")
        if rule.name not in self.rules_used:
            self.rules_used.append(rule.name)
        r = self.temp("r")
        self.emit(f"{r} = _R_{rule.name}({', '.join(v for v, _ in args)})")
        v = self.temp("v")
        self.emit(f"{v} = {r}[0]")
        terms = [f"_sz({r}[{i + 1}], {t})" for i, (_, t) in enumerate(args) if t is not None]
        if not terms:
            return v, None
        t = self.temp("t")
        self.emit(f"{t} = {' + '.join(terms)}")
        return v, t

    def expr(self, node: ast.expr) -> tuple[str, str | None]:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise NotDerivable(f"constant {node.value!r}")
            return repr(float(node.value)), None
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            value = self.rule.fn.__globals__.get(node.id)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return repr(float(value)), None
            raise NotDerivable(f"name {node.id!r}")
        if isinstance(node, ast.BinOp):
            a, b = self.expr(node.left), self.expr(node.right)
            op = type(node.op)
            if a[1] is None and b[1] is None:
                if op not in _SYMBOLS:
                    raise NotDerivable(f"operator {op.__name__}")
                return self.bind(f"({a[0]} {_SYMBOLS[op]} {b[0]})"), None
            if op not in _BINOPS:
                raise NotDerivable(f"operator {op.__name__} on differentiated values")
            return self.call_rule(UFUNC_RULES[_BINOPS[op]], [a, b])
        if isinstance(node, ast.UnaryOp):
            a = self.expr(node.operand)
            if isinstance(node.op, ast.UAdd):
                return a
            if isinstance(node.op, ast.USub):
                if a[1] is None:
                    return self.bind(f"(-{a[0]})"), None
                return self.call_rule(UFUNC_RULES[np.negative], [a])
            raise NotDerivable(f"unary {type(node.op).__name__}")
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
                raise NotDerivable("chained or unknown comparison")
            a, b = self.expr(node.left), self.expr(node.comparators[0])
            return self.bind(f"({a[0]} {_COMPARE[type(node.ops[0])]} {b[0]})"), None
        if isinstance(node, ast.IfExp):
            c, a, b = self.expr(node.test), self.expr(node.body), self.expr(node.orelse)
            v = self.bind(f"({a[0]} if {c[0]} else {b[0]})")
            if a[1] is None and b[1] is None:
                return v, None
            return v, self.bind(f"({a[1] or '0.0'} if {c[0]} else {b[1] or '0.0'})")
        if isinstance(node, ast.Call):
            f = node.func
            named = self.rule.fn.__globals__.get(f.id) if isinstance(f, ast.Name) else None
            if isinstance(named, np.ufunc) and named in UFUNC_RULES and not node.keywords:  # a ufunc of the module
                return self.call_rule(UFUNC_RULES[named], [self.expr(a) for a in node.args])
            if _hashable(named) and named in FUNCTION_RULES and not node.keywords and len(node.args) == FUNCTION_RULES[named].nin:
                return self.call_rule(FUNCTION_RULES[named], [self.expr(a) for a in node.args])  # a function with a rule
            if not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)) or node.keywords:
                raise NotDerivable(f"call of {ast.unparse(f)}")
            if f.value.id != "np":
                return self.module_call(f, node.args)
            ufunc = getattr(np, f.attr, None)
            args = [self.expr(a) for a in node.args]
            if ufunc in FUNCTION_RULES and len(args) == FUNCTION_RULES[ufunc].nin:  # np.real, np.angle
                return self.call_rule(FUNCTION_RULES[ufunc], args)
            if not isinstance(ufunc, np.ufunc):
                raise NotDerivable(f"np.{f.attr} is not a ufunc")
            if all(t is None for _, t in args):
                return self.bind(f"np.{f.attr}({', '.join(v for v, _ in args)})"), None
            if ufunc in UFUNC_RULES:
                return self.call_rule(UFUNC_RULES[ufunc], args)
            if all(sig.endswith("?") for sig in ufunc.types):  # a predicate (isnan...): no tangent
                return self.bind(f"np.{f.attr}({', '.join(v for v, _ in args)})"), None
            raise NotDerivable(f"np.{f.attr} has no rule")
        raise NotDerivable(f"expression {type(node).__name__}")

    def module_call(self, f: ast.Attribute, args: list) -> tuple[str, str | None]:
        """``module.ufunc(...)`` (``special.psi(x)``): the ufunc's own rule, tangent or not."""
        module = self.rule.fn.__globals__.get(f.value.id)
        ufunc = getattr(module, f.attr, None) if isinstance(module, types.ModuleType) else None
        if not isinstance(ufunc, np.ufunc) or ufunc not in UFUNC_RULES:
            raise NotDerivable(f"call of {ast.unparse(f)}: not a ufunc with a rule")
        return self.call_rule(UFUNC_RULES[ufunc], [self.expr(a) for a in args])

    def bind(self, code: str) -> str:
        v = self.temp("v")
        self.emit(f"{v} = {code}")
        return v


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def tangent_source(rule: ElementwiseRule, name: str = "tangent") -> tuple[str, list[str]]:
    """Source of ``name(x0.., d0..) -> (value, *partials, *dpartials)`` for ``rule``.

    Returns the function's source (it calls ``_R_<rule>`` for each rule it uses and ``_sz``
    for strong-zero products, which the caller provides) and the names of the rules used.

    Raises
    ------
    NotDerivable
        When the rule's source is not straight-line code over ufuncs, operators, comparisons
        and conditional expressions.

    Examples
    --------
    >>> from dualad.rules import RULES
    >>> src, used = tangent_source(RULES["sin"])
    >>> used                       # d/dx cos(x) comes from the cos rule
    ['sin', 'cos']
    >>> print(src.splitlines()[-1])
        return (_v2, _v5, _t6,)
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(rule.fn)))
    except (OSError, TypeError, SyntaxError) as exc:
        raise NotDerivable(f"the source of rule {rule.name!r} is not available") from exc
    fdef = tree.body[0]
    if not isinstance(fdef, ast.FunctionDef):
        raise NotDerivable(f"rule {rule.name!r} is not a plain function")
    params = [a.arg for a in fdef.args.args]
    w = _Writer(rule)
    for i, p in enumerate(params):  # inputs the rule is not differentiable in never carry tangents
        w.env[p] = (f"x{i}", f"d{i}" if i in rule.argnums else None)
    result = None
    for stmt in fdef.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            w.env[stmt.targets[0].id] = w.expr(stmt.value)
        elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            w.env[stmt.target.id] = w.expr(ast.BinOp(ast.Name(stmt.target.id, ast.Load()), stmt.op, stmt.value))
        elif isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Tuple) and result is None:
            outs = stmt.value.elts
            if len(outs) != rule.nin + 1:
                raise NotDerivable(f"rule {rule.name!r} returns {len(outs)} values")
            value = w.expr(outs[0])[0]
            partials = [w.expr(o) for o in outs[1:]]
            result = [value] + [v for v, _ in partials] + [t or "0.0" for _, t in partials]
        else:
            raise NotDerivable(f"statement {type(stmt).__name__} in rule {rule.name!r}")
    if result is None:
        raise NotDerivable(f"rule {rule.name!r} has no return of a tuple")
    args = [f"x{i}" for i in range(rule.nin)] + [f"d{i}" for i in range(rule.nin)]
    src = f"def {name}({', '.join(args)}):\n" + "\n".join(w.lines) + f"\n    return ({', '.join(result)},)\n"
    return src, w.rules_used


def derivable(rule: ElementwiseRule) -> bool:
    """Whether :func:`tangent_source` handles ``rule`` (cached on the rule).

    Examples
    --------
    >>> from dualad.rules import RULES
    >>> derivable(RULES["tanh"])
    True
    """
    known = rule.__dict__.get("_derivable")
    if known is None:
        try:
            tangent_source(rule)
            known = True
        except NotDerivable:
            known = False
        rule.__dict__["_derivable"] = known
    return known


def check_all() -> dict[str, str]:
    """Every rule the transform cannot handle, with the reason (for tests and the docs)."""
    out = {}
    for rule in RULES.values():
        try:
            tangent_source(rule)
        except NotDerivable as exc:
            out[rule.name] = str(exc)
    return out


def restricted(fn, outputs):
    """``fn`` computing only the slots ``outputs`` of its return (0 the value, ``i + 1`` the
    partial in input ``i``): the other slots become ``0.0`` and every assignment only they read
    is dropped.  The kernels call such copies where they need part of a rule's result: the
    value kernels the value alone, the adjoint kernels the partials of the inputs they write.
    (A call of a native function, ``special.psi(x)``, is not dead code the compiler may drop:
    it is not computed only because it is no longer written.)  The copy shares ``fn``'s
    globals and returns a tuple of the same length; ``fn`` itself returns where its source
    cannot be read.

    Parameters
    ----------
    fn : callable
        A rule's function ``fn(*xs) -> (value, *partials)`` (or a copy sharing its code, such
        as :attr:`~dualad.rules.ElementwiseRule.kernel_fn`).
    outputs : iterable of int
        The slots of its return to compute.

    Returns
    -------
    callable

    Examples
    --------
    >>> import inspect
    >>> from dualad.rules import RULES
    >>> [float(v) for v in restricted(RULES["sin"].fn, (0,))(1.0)]       # sin(x), not cos(x)
    [0.8414709848078965, 0.0]
    >>> [float(v) for v in restricted(RULES["arctan2"].fn, (2,))(1.0, 1.0)]   # ∂/∂x only
    [0.0, 0.0, -0.5]
    """
    tree = _rule_ast(fn)
    if tree is None or not _returns_tuple(tree.body[0]):
        return fn
    _restrict(tree.body[0], set(outputs))
    return _compiled(fn, tree)


def without_value(fn):
    """``fn`` computing its partials only (:func:`restricted` to every partial): the value slot
    of its return becomes ``0.0``, for the adjoint kernels, which read the partials alone.

    Examples
    --------
    >>> from dualad.rules import RULES
    >>> [float(v) for v in without_value(RULES["sin"].fn)(0.0)]       # sin(x), cos(x)
    [0.0, 1.0]
    >>> [float(v) for v in without_value(RULES["sin"].fn)(1.0)][0]
    0.0
    """
    return restricted(fn, range(1, fn.__code__.co_argcount + 1))


def _returns_tuple(fdef: ast.FunctionDef) -> bool:
    ret = fdef.body[-1]
    return isinstance(ret, ast.Return) and isinstance(ret.value, ast.Tuple)


def _restrict(fdef: ast.FunctionDef, outputs: set) -> None:
    """In place: the return's slots not in ``outputs`` become ``0.0``, then the assignments no
    later statement reads are dropped (statements other than assignments to names are kept)."""
    ret = fdef.body[-1]
    ret.value.elts = [e if k in outputs else ast.Constant(0.0) for k, e in enumerate(ret.value.elts)]

    def reads(node) -> set:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}

    live, kept = reads(ret), [ret]
    for st in reversed(fdef.body[:-1]):
        targets = _assigned_names(st)
        if targets is not None and not targets & live:
            continue
        kept.append(st)
        live |= reads(st) | (targets if isinstance(st, ast.AugAssign) else set())
    fdef.body = kept[::-1]


def _assigned_names(st) -> set | None:
    """The names ``st`` assigns if it is an assignment to names only (``y = ...``, ``a, b =
    ...``, ``y += ...``), else None."""
    if isinstance(st, ast.AugAssign):
        targets = [st.target]
    elif isinstance(st, ast.Assign):
        targets = st.targets
    else:
        return None
    names = set()
    for t in targets:
        for n in t.elts if isinstance(t, ast.Tuple) else [t]:
            if not isinstance(n, ast.Name):
                return None
            names.add(n.id)
    return names


def _rule_ast(fn):
    """``fn``'s function definition as a tree (decorators dropped), or None where its source
    cannot be read or it has a closure (a copy compiled from source would not see it)."""
    if fn.__closure__:
        return None
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    fdef = tree.body[0]
    if not isinstance(fdef, ast.FunctionDef):
        return None
    fdef.decorator_list = []
    return tree


def _compiled(fn, tree):
    scope: dict = {}
    fdef = tree.body[0]
    exec(compile(ast.fix_missing_locations(tree), inspect.getsourcefile(fn) or "<rule>", "exec"), fn.__globals__, scope)  # noqa: S102
    new = scope[fdef.name]
    new.__qualname__ = fn.__qualname__
    return new


def _value_name(fdef: ast.FunctionDef) -> tuple[str, int] | None:
    """``(name, i)`` when the rule binds its value to a name once (statement ``i``: ``y = ...``),
    returns it as the value and reads it after that; else None."""
    ret = fdef.body[-1]
    if not (isinstance(ret, ast.Return) and isinstance(ret.value, ast.Tuple) and isinstance(ret.value.elts[0], ast.Name)):
        return None
    name = ret.value.elts[0].id
    if name in {a.arg for a in fdef.args.args}:
        return None
    def binds_name(st) -> bool:
        return any(isinstance(t, ast.Name) and t.id == name and isinstance(t.ctx, ast.Store) for t in ast.walk(st))

    binds = [i for i, st in enumerate(fdef.body) if binds_name(st)]
    if len(binds) != 1:
        return None
    i = binds[0]
    st = fdef.body[i]
    if not (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)):
        return None
    later = fdef.body[i + 1:-1] + [ast.Tuple(ret.value.elts[1:], ast.Load())]
    if not any(isinstance(n, ast.Name) and n.id == name for st in later for n in ast.walk(st)):
        return None
    return name, i


def with_value(fn, outputs=None):
    """``fn``'s partials as a function of its inputs *and its value*, or None.

    A rule that binds its value to a name its partials read (``y = np.tanh(x)``; ``return y,
    1.0 - y * y``) declares by that alone that its partials are cheaper given the value.  The
    copy takes the value as one more argument in place of that assignment and returns what
    ``fn`` returns (the given value first).  Reverse mode keeps such a rule's output on the tape
    and its adjoint kernels call this copy: the value is not computed twice (``scipy.special.jv``
    is one Bessel function, not two, in the backward sweep).  None where the rule does not read
    its value so, or its source cannot be read.  ``outputs`` (optional) restricts the copy to
    those slots of the return as :func:`restricted` does (the partials of the inputs an adjoint
    kernel writes).

    Examples
    --------
    >>> from dualad.rules import RULES
    >>> dtanh = with_value(RULES["tanh"].fn)
    >>> [float(v) for v in dtanh(0.3, 0.5)]       # the value given, tanh′ = 1 − 0.5²
    [0.5, 0.75]
    >>> with_value(RULES["sin"].fn) is None       # cos(x) does not read sin(x)
    True
    """
    tree = _rule_ast(fn)
    if tree is None:
        return None
    fdef = tree.body[0]
    found = _value_name(fdef)
    if found is None:
        return None
    name, i = found
    del fdef.body[i]
    fdef.args.args.append(ast.arg(arg=name))
    if outputs is not None:
        _restrict(fdef, set(outputs))
    new = _compiled(fn, tree)
    new.__name__ = fdef.name
    return new


_UNKNOWN = object()


def value_partials(rule: ElementwiseRule):
    """:func:`with_value` of ``rule.fn``, made once per rule (None: the rule does not read its
    value).  Reverse mode asks this when it records an op, to keep the output for the sweep.

    Examples
    --------
    >>> from dualad.rules import RULES
    >>> value_partials(RULES["exp"]) is not None, value_partials(RULES["sin"])
    (True, None)
    """
    return _once(rule, "_value_partials", lambda: with_value(rule.fn))


def _once(rule: ElementwiseRule, key: str, make):
    """``make()``, computed once per rule and kept in its ``__dict__`` under ``key`` (read there
    directly by the hot paths that cannot afford a call)."""
    known = rule.__dict__.get(key, _UNKNOWN)
    if known is _UNKNOWN:
        known = rule.__dict__[key] = make()
    return known


#: Functions that cost about an arithmetic operation (one instruction or a select): partials
#: calling only these are not worth keeping from the value's pass (see :func:`costly_partials`).
_CHEAP_CALLS = frozenset({"sign", "sqrt", "abs", "absolute", "fabs", "maximum", "minimum", "fmax", "fmin", "where",
                          "isnan", "isinf", "isfinite", "copysign", "signbit", "floor", "ceil", "trunc", "rint"})


def _calls_costly(fn) -> bool:
    tree = _rule_ast(fn)
    if tree is None:
        return False
    fdef = tree.body[0]
    if not _returns_tuple(fdef):
        return False
    parts = fdef.body[:-1] + fdef.body[-1].value.elts[1:]  # the statements before the return and the partials
    for node in (n for part in parts for n in ast.walk(part)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name not in _CHEAP_CALLS:
                return True
    return False


def costly_partials(rule: ElementwiseRule) -> bool:
    """Whether the rule's partials cost a function evaluation of their own per element (``sin``:
    ``np.cos(x)``; ``gammaln``: ``special.psi(x)``) and do not read its value.  Reverse mode
    computes such partials in the pass that computes the value, while recording (one kernel:
    the inputs read once, shared work shared, as sin's and cos's range reduction), and keeps
    them for the sweep, which then only multiplies.  Partials of arithmetic and cheap calls
    (``np.sign``, ``np.sqrt``, ``np.where``) or read from the value (:func:`value_partials`) are
    computed in the sweep, as before.  Made once per rule.

    Examples
    --------
    >>> from dualad.rules import RULES
    >>> costly_partials(RULES["sin"]), costly_partials(RULES["exp"]), costly_partials(RULES["multiply"])
    (True, False, False)
    """
    return _once(rule, "_costly_partials", lambda: value_partials(rule) is None and _calls_costly(rule.fn))


def partials_at(rule: ElementwiseRule, xs, value=None) -> tuple:
    """The partials of ``rule`` at ``xs`` (any value types), read from its ``value`` where the
    rule's partials read their value and it is given, else by the rule's copy that does not
    compute the value (:func:`without_value`).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules import RULES
    >>> [float(p) for p in partials_at(RULES["exp"], [0.0], np.float64(2.0))]   # exp′ is the value
    [2.0]
    """
    reader = None if value is None else value_partials(rule)
    if reader is not None:
        return reader(*xs, value)[1:]
    # Without the value: the copy that does not compute it (on values active at an older
    # level, computing it would record a dead operation there, swept over for nothing).
    return _once(rule, "_partials_only", lambda: without_value(rule.fn))(*xs)[1:]
