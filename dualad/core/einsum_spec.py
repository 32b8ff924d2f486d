"""NumPy's einsum arguments, every form, brought to one canonical form.

``np.einsum`` accepts subscripts as a string (``"ij...,jk->ik..."``, implicit or explicit
output, spaces) or as sublists (``einsum(a, [0, Ellipsis], b, [1, 0], [Ellipsis, 1])``),
ellipses of any rank anywhere in any operand (broadcast against each other, right-aligned),
size-1 labelled axes that broadcast against a longer one, and repeated labels (diagonals).
:func:`canonical` turns all of that into explicit subscripts made of letters only — one letter
per axis, each letter one size — plus, per operand, the shape to broadcast it to first, so the
multilinear primitive underneath (``rules.structural.einsum``) only ever sees the simple form.
Whatever NumPy refuses is refused here with an error of the same kind (ValueError, or
TypeError for a sublist label of the wrong type) whose message names the problem.
"""

from __future__ import annotations

import operator
import string

import numpy as np

__all__ = ["canonical", "split_arguments", "EinsumForm"]

_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # NumPy's implicit order: 'A' < 'a'


class EinsumForm:
    """Canonical einsum: ``subscripts`` (letters only, explicit ``->``) and per operand the
    shape it must be broadcast to (None where its own shape already fits)."""

    __slots__ = ("subscripts", "broadcast")

    def __init__(self, subscripts: str, broadcast: list):
        self.subscripts = subscripts
        self.broadcast = broadcast

    def __repr__(self) -> str:
        return f"EinsumForm({self.subscripts!r}, {self.broadcast!r})"


def split_arguments(args: tuple) -> tuple[str, tuple]:
    """(subscripts string, operands) from either calling form of ``np.einsum``.

    Parameters
    ----------
    args : tuple
        What ``np.einsum`` received positionally: ``(subscripts, op0, op1, ...)`` or
        ``(op0, sublist0, op1, sublist1, ..., [sublist_out])``.

    Returns
    -------
    subscripts : str
        The sublists spelled as a subscripts string (``0..25 -> 'A'..'Z'``,
        ``26..51 -> 'a'..'z'``, ``Ellipsis -> '...'``), or the string as given.
    operands : tuple
        The operands, in order.

    Raises
    ------
    ValueError
        Nothing to work on, or a sublist label outside ``0..51``.
    TypeError
        A sublist that is a string or not iterable, or a label that is neither an integer
        nor ``Ellipsis`` (NumPy raises TypeError for these too).

    Examples
    --------
    >>> split_arguments(("ij,jk", 1.0, 2.0))
    ('ij,jk', (1.0, 2.0))
    >>> split_arguments((1.0, [0, Ellipsis], 2.0, [27, 0], [Ellipsis, 27]))
    ('A...,bA->...b', (1.0, 2.0))
    """
    if not args:
        raise ValueError("einsum: no subscripts and operands given")
    if isinstance(args[0], (str, bytes)):  # NumPy takes bytes subscripts too
        if len(args) < 2:
            raise ValueError("einsum: the subscripts string must be followed by at least one operand")
        subs = args[0] if isinstance(args[0], str) else args[0].decode("latin-1")
        return str(subs), tuple(args[1:])
    if len(args) < 2:
        raise ValueError("einsum: in the sublist form each operand is followed by its list of axis labels")
    ops, subs = list(args[0::2]), [_sublist(s) for s in args[1::2]]
    out = None
    if len(ops) > len(subs):  # an odd count: the last item is the output sublist
        out = _sublist(ops.pop())
    text = ",".join(subs) + ("" if out is None else "->" + out)
    return text, tuple(ops)


def _sublist(sub) -> str:
    """One sublist (integers 0..51 and Ellipsis) spelled with NumPy's letters."""
    if isinstance(sub, (str, bytes)) or not hasattr(sub, "__iter__"):
        raise TypeError(f"einsum: in the sublist form each operand is followed by a list of axis labels, got {sub!r:.60}")
    out = []
    for label in sub:
        if label is Ellipsis:
            out.append("...")
            continue
        if isinstance(label, (bool, np.bool_)):  # NumPy refuses these although they are ints
            raise TypeError(f"einsum: sublist labels must be integers 0..51 or Ellipsis, got {label!r}")
        try:
            k = operator.index(label)  # NumPy integers too, as NumPy takes them
        except TypeError:
            raise TypeError(f"einsum: sublist labels must be integers 0..51 or Ellipsis, got {label!r:.60}") from None
        if not 0 <= k < 52:
            raise ValueError(f"einsum: sublist label {k} is outside the valid range 0..51")
        out.append(_LETTERS[k])  # NumPy's mapping: 0..25 -> 'A'..'Z', 26..51 -> 'a'..'z'
    return "".join(out)


def _check_labels(term: str, where: str) -> None:
    """Refuse anything in one term but letters and at most one '...'."""
    if term.count("...") > 1:
        raise ValueError(f"einsum: {where} {term!r} have more than one ellipsis")
    body = term.replace("...", "", 1)
    if "." in body:
        raise ValueError(f"einsum: {where} {term!r} have a '.' that is not part of an ellipsis ('...')")
    for ch in body:
        if ch not in _LETTERS:
            raise ValueError(f"einsum: {where} {term!r} have the character {ch!r}; labels are letters a-z, A-Z (and one '...')")


def _parse(subscripts: str, nops: int) -> tuple[list[str], str | None]:
    """Input terms and the output term (None when implicit), spaces dropped, checked."""
    subs = subscripts.replace(" ", "")
    if subs.count("->") > 1:
        raise ValueError(f"einsum: subscripts {subscripts!r} have more than one '->'")
    ins_s, arrow, out = subs.partition("->")
    if ("-" in ins_s or ">" in ins_s) or ("-" in out or ">" in out):
        raise ValueError(f"einsum: subscripts {subscripts!r} have a stray '-' or '>'")
    ins = ins_s.split(",")
    if len(ins) != nops:
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(ins)} operand(s), but {nops} were given")
    for i, term in enumerate(ins):
        _check_labels(term, f"operand {i}'s subscripts")
    if arrow:
        _check_labels(out, "the output subscripts")
        return ins, out
    return ins, None


def _expand(ins: list[str], shapes: list[tuple]) -> tuple[list[list[str]], list[tuple], tuple]:
    """Per operand its labels with the ellipsis spelled out as '.0', '.1', ... (right-aligned
    across operands), the shapes, and the broadcast shape of the ellipsis axes."""
    terms, ell_shapes = [], []
    for i, (term, shape) in enumerate(zip(ins, shapes)):
        named = len(term.replace("...", ""))
        if "..." not in term:
            if named != len(shape):
                raise ValueError(
                    f"einsum: operand {i} has {len(shape)} axes but its subscripts {term!r} name {named}; "
                    "give one label per axis, or '...' for the rest"
                )
            terms.append(list(term))
            ell_shapes.append(())
            continue
        rank = len(shape) - named
        if rank < 0:
            raise ValueError(f"einsum: operand {i} has {len(shape)} axes, fewer than the {named} labels of {term!r}")
        head, _, tail = term.partition("...")
        pos = len(head)
        ell_shapes.append(tuple(shape[pos: pos + rank]))
        terms.append((list(head), rank, list(tail)))
    width = max((len(e) for e in ell_shapes), default=0)
    try:
        ell = _broadcast(ell_shapes, width)
    except ValueError as e:
        raise ValueError(f"einsum: the operands' '...' axes {ell_shapes} do not broadcast together") from e
    out_terms = []
    for t in terms:
        if isinstance(t, list):
            out_terms.append(t)
        else:
            head, rank, tail = t
            out_terms.append(head + [f".{width - rank + k}" for k in range(rank)] + tail)
    return out_terms, ell, width


def _broadcast(shapes: list[tuple], width: int) -> tuple:
    """The right-aligned broadcast of ``shapes`` padded to ``width`` (ValueError if none)."""
    out = [1] * width
    for s in shapes:
        for k, d in enumerate(s):
            j = width - len(s) + k
            if d != 1:
                if out[j] not in (1, d):
                    raise ValueError("mismatch")
                out[j] = d
    return tuple(out)


def canonical(subscripts: str, shapes: list[tuple]) -> EinsumForm:
    """Explicit, ellipsis-free subscripts for ``np.einsum(subscripts, *ops)`` with ``ops`` of
    ``shapes``, and the shapes to broadcast the operands to first.

    Parameters
    ----------
    subscripts : str
        NumPy's subscripts: letters, at most one ``'...'`` per term, spaces, optional
        ``'->'`` output (implicit output: the ``'...'`` axes, then the labels that occur
        exactly once, upper case before lower case, as NumPy orders them).
    shapes : list of tuple
        The operands' shapes.

    Returns
    -------
    EinsumForm
        ``subscripts`` with one letter per axis and an explicit output (``'...'`` axes get
        letters the user did not use; one letter always stays free), and ``broadcast``: per
        operand the shape it must be broadcast to (size-1 axes, labelled or under ``'...'``,
        against longer ones), or None.

    Raises
    ------
    ValueError
        Whatever NumPy refuses: a wrong operand count or label count for an operand's rank,
        bad characters, a repeated or unknown output label, sizes that do not broadcast,
        operands with ``'...'`` axes and an output without ``'...'``; also more than 51
        distinct axes (the derivatives need one more letter).

    Examples
    --------
    >>> canonical("ij...,jk...->ik...", [(2, 3, 4), (3, 2, 4)])
    EinsumForm('ijA,jkA->ikA', [None, None])
    >>> canonical("j...k,lj...->lk...", [(2, 2), (2, 2, 2)])
    EinsumForm('jk,ljA->lkA', [None, None])
    >>> canonical("ba,Ab", [(2, 3), (4, 2)])
    EinsumForm('ba,Ab->Aa', [None, None])
    >>> canonical("ij,ij->ij", [(1, 3), (2, 3)])
    EinsumForm('ij,ij->ij', [(2, 3), None])
    """
    ins, out = _parse(subscripts, len(shapes))
    terms, ell, width = _expand(ins, [tuple(s) for s in shapes])
    sizes = _label_sizes(terms, shapes)
    if out is None:  # implicit: the '...' axes, then the labels that appear once, in order
        counts: dict = {}
        for t in terms:
            for lab in t:
                counts[lab] = counts.get(lab, 0) + 1
        out_labels = [f".{k}" for k in range(width)] + [ch for ch in _LETTERS if counts.get(ch) == 1]
    else:
        out_labels = _output_labels(out, terms, width, ell)
    return _spell(terms, out_labels, sizes, shapes)


def _label_sizes(terms: list[list[str]], shapes: list[tuple]) -> dict:
    """Each label's size after size-1 broadcasting; diagonals must match exactly, as in NumPy."""
    sizes: dict = {}
    for i, (t, shape) in enumerate(zip(terms, shapes)):
        own: dict = {}
        for lab, d in zip(t, shape):
            if own.setdefault(lab, d) != d:  # a diagonal needs equal sizes (no broadcasting)
                raise ValueError(f"einsum: operand {i} repeats label {lab!r} over axes of sizes {own[lab]} and {d}")
            prev = sizes.get(lab)
            if prev is None or prev == 1:
                sizes[lab] = d
            elif d not in (1, prev):
                name = "'...'" if lab.startswith(".") else repr(lab)
                raise ValueError(f"einsum: label {name} has size {prev} in one place and {d} in operand {i}")
    return sizes


def _output_labels(out: str, terms: list[list[str]], width: int, ell: tuple) -> list[str]:
    """The explicit output term as labels ('...' spelled out), checked as NumPy checks it."""
    present = {lab for t in terms for lab in t}
    labels = []
    head, dots, tail = out.partition("...")
    for ch in head + tail:
        if ch not in present:
            raise ValueError(f"einsum: output label {ch!r} does not appear in any operand")
    if len(set(head + tail)) != len(head + tail):
        raise ValueError(f"einsum: output subscripts {out!r} repeat a label")
    if not dots and width:  # NumPy refuses this even when those axes have size 1
        raise ValueError(
            "einsum: the operands have '...' axes but the output subscripts have no '...'; "
            "add '...' to the output (or sum those axes explicitly)"
        )
    labels += list(head)
    if dots:
        labels += [f".{k}" for k in range(width)]
    labels += list(tail)
    return labels


def _spell(terms, out_labels, sizes, shapes) -> EinsumForm:
    """Letters for the '...' axes, and the broadcasts that make every label one size."""
    user = {lab for t in terms for lab in t if not lab.startswith(".")}
    free = [ch for ch in string.ascii_letters[26:] + string.ascii_letters[:26] if ch not in user]
    dots = sorted({lab for t in terms for lab in t if lab.startswith(".")}, key=lambda s: int(s[1:]))
    if len(user) + len(dots) > 51:  # one letter stays free for the lane axis of derivatives
        raise ValueError(f"einsum: {len(user) + len(dots)} distinct axes; at most 51 are supported")
    letter = {lab: lab for lab in user} | dict(zip(dots, free))
    broadcast = []
    for t, shape in zip(terms, shapes):
        want = tuple(sizes[lab] for lab in t)
        broadcast.append(None if want == tuple(shape) else want)
    ins = ",".join("".join(letter[lab] for lab in t) for t in terms)
    out = "".join(letter[lab] for lab in out_labels if lab in letter)
    return EinsumForm(f"{ins}->{out}", broadcast)
