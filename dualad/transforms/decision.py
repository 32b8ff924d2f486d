"""The :class:`Decision`: how a Jacobian or Hessian is computed for one argument signature, and
why (frozen: every call gets its own)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Decision"]


@dataclass(frozen=True)
class Decision:
    """How ``jacobian`` computes the Jacobian for one argument signature, and why.

    Attributes
    ----------
    mode : str
        ``"forward"`` or ``"reverse"``: the mode that runs.
    requested : str
        The ``mode`` argument (``"auto"`` when the cost model chose).
    n, m : int
        Flattened input and output sizes.
    lanes : int
        Lanes to compute in the chosen mode: n or m, or the number of colours when sparse.
    chunk, passes : int
        Lanes per pass and number of passes.
    sparse : bool
        A sparse (coloured) Jacobian.
    colors_forward, colors_reverse : int or None
        Column and row colours of the pattern (sparse only); ``nnz`` its nonzeros.
    estimate_forward_s, estimate_reverse_s : float or None
        The cost model's estimates of both modes (auto mode only).
    forward_pass_s, forward_lane_s, reverse_record_s, reverse_pass_s, reverse_lane_s : float or None
        The measured constants ``a_f, b_f, t_record, a_r, b_r`` of the model.
    forward_lane_bytes, reverse_lane_bytes, base_bytes, memory_limit : int or None
        The memory model and the limit the chunks respect.
    tape_length : int or None
        Entries of the recorded Wengert list.
    probe_s : float
        Time spent measuring (the first call only).
    reason : str
        One sentence on why this mode.
    value_dependent : bool
        The detected pattern depends on values (sparse Hessians; not reused for other inputs).

    Examples
    --------
    >>> from dualad.transforms.decision import Decision
    >>> Decision("forward", "auto", n=2, m=3, lanes=2, chunk=2, passes=1).passes
    1
    """

    mode: str
    requested: str
    n: int
    m: int
    lanes: int
    chunk: int
    passes: int
    sparse: bool = False
    colors_forward: int | None = None
    colors_reverse: int | None = None
    nnz: int | None = None
    estimate_forward_s: float | None = None
    estimate_reverse_s: float | None = None
    forward_pass_s: float | None = None
    forward_lane_s: float | None = None
    reverse_record_s: float | None = None
    reverse_pass_s: float | None = None
    reverse_lane_s: float | None = None
    forward_lane_bytes: int | None = None
    reverse_lane_bytes: int | None = None
    base_bytes: int | None = None
    memory_limit: int | None = None
    tape_length: int | None = None
    probe_s: float = 0.0
    reason: str = ""
    value_dependent: bool = False

    def __str__(self) -> str:
        lines = [
            f"jacobian: {self.mode} mode ({self.requested} requested), n={self.n} -> m={self.m}"
            + (f", sparse: {self.nnz} nonzeros, {self.colors_forward} column / {self.colors_reverse} row colours" if self.sparse else ""),
            f"  {self.lanes} lanes in {self.passes} pass(es) of up to {self.chunk}",
        ]
        if self.estimate_forward_s is not None:
            lines.append(
                f"  estimated: forward {self.estimate_forward_s * 1e3:.3g} ms, reverse {self.estimate_reverse_s * 1e3:.3g} ms "
                f"(forward {self.forward_pass_s * 1e6:.3g} us/pass + {self.forward_lane_s * 1e6:.3g} us/lane; reverse "
                f"{self.reverse_record_s * 1e6:.3g} us record + {self.reverse_pass_s * 1e6:.3g} us/sweep + "
                f"{self.reverse_lane_s * 1e6:.3g} us/lane)"
            )
        lines.append(f"  reason: {self.reason}")
        return "\n".join(lines)
