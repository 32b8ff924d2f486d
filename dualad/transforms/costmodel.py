"""The cost model and the memory model of the Jacobian engine: what one signature's plan
caches (:class:`Plan`), the memory a lane costs in each mode, the measured ``a + b·k`` pass
times and the choice of mode, and the :class:`~.decision.Decision` built from them.  See
:mod:`dualad.transforms.jacobian` for the model itself."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..reverse.variable import Variable
from .common import prepare_args, size_of
from .decision import Decision
from .lanes import forward_lanes, reverse_record

__all__ = ["MemModel", "memory_model", "chunk_cap", "Fit", "Plan", "analyse", "choose", "make_decision", "PROBE_LANES"]

# Probe sizes (lanes) of the cost model.  Beyond the first two, a mode is probed further when
# the estimates are within AMBIGUOUS of each other, or when the probe costs at most PROBE_BUDGET
# times the better estimate.
PROBE_LANES = (1, 16, 128, 1024)
# Lane counts this lopsided decide without timing anything: the pass and lane costs of the two
# modes are within a small factor of each other, so probing (and compiling the kernels of the
# mode that will not run, which dominated first calls) cannot change the answer.
LOPSIDED = 32
AMBIGUOUS = 3.0
PROBE_BUDGET = 0.5


@dataclass
class MemModel:
    """Bytes per lane in each mode, and lane-independent bytes, from a recorded tape."""

    forward_lane: int
    reverse_lane: int
    base: int


def memory_model(tape, vars_, o_leaves, n: int, m: int, itemsize: int) -> MemModel:
    entries = tape.entries
    E = len(entries)
    size_of: dict = {}
    for v in vars_:
        size_of[v._node] = int(math.prod(v.shape))
    producer: dict = {}
    last_use: dict = {}
    total = 0
    trans_f = 0
    trans_r = np.zeros(max(E, 1), dtype=np.int64)
    for t, (op, in_nodes, residual, params, out_node, out_shape) in enumerate(entries):
        s = int(math.prod(out_shape))
        size_of[out_node] = s
        producer[out_node] = t
        total += s
        ins = [size_of.get(nd, 0) for nd in in_nodes if nd is not None]
        trans_f = max(trans_f, 2 * s + sum(ins))
        trans_r[t] = sum(s + i for i in ins)
        for nd in in_nodes:
            if nd is not None:
                last_use[nd] = max(last_use.get(nd, -1), t)
    outs = {o._node for o in o_leaves if isinstance(o, Variable) and o._tape is tape}
    # Reverse sweep liveness: the adjoint of node v exists from the sweep step of its last
    # consumer (or from the start, for an output) down to the step of its producer (leaves: to
    # the end).  Steps run t = E-1 .. 0.
    live = np.zeros(E + 2, dtype=np.int64)
    for node, s in size_of.items():
        start = E if node in outs else last_use.get(node)
        if start is None:
            continue
        end = producer.get(node, 0)
        if end <= start - 1:
            live[end] += s
            live[start] -= s
    live = np.cumsum(live)[: max(E, 1)]
    peak_r = int(np.max(live + trans_r)) if E else 0
    forward_lane = itemsize * (n + total + trans_f + 2 * m)
    reverse_lane = itemsize * (m + 2 * n + peak_r)
    # Forward counts every tangent alive at once (an upper bound: Python locals keep them); the
    # reverse liveness is tight, so 25% for what the model does not see (NumPy temporaries).
    return MemModel(int(forward_lane * 1.1) + 64, int(reverse_lane * 1.25) + 64, itemsize * (total + n + m))


def chunk_cap(limit: int, mem: MemModel | None, lane_bytes: str, N: int, name: str) -> int:
    """Lanes per pass that keep ``base + chunk · bytes_per_lane`` within ``limit`` (at least 1,
    with a ``ResourceWarning`` when even one lane exceeds it; at most N).

    Examples
    --------
    >>> from dualad.transforms.costmodel import MemModel, chunk_cap
    >>> chunk_cap(1000, MemModel(forward_lane=100, reverse_lane=10, base=200), "forward_lane", 50, "jacobian")
    8
    """
    if mem is None:
        return max(N, 1)
    per = getattr(mem, lane_bytes)
    cap = (limit - mem.base) // max(per, 1)
    if cap < 1:
        warnings.warn(
            f"{name}: memory_limit={limit} bytes is below the estimated memory of a single lane "
            f"({mem.base + per} bytes); computing one lane per pass",
            ResourceWarning,
            stacklevel=4,
        )
        cap = 1
    return int(min(cap, max(N, 1)))


@dataclass
class Fit:
    """Measured pass times {lanes: seconds} of one mode; ``a + b·k`` through the largest two."""

    points: dict = field(default_factory=dict)

    def clipped(self) -> tuple[list, list]:
        """Lane counts and their times, with what noise did to them clipped by two bounds:
        a pass of fewer lanes cannot cost more, and a pass of k lanes cannot cost more than
        k/j passes of j lanes (it does the same work in one go).  A time beyond either is a
        burst of load elsewhere or a first run that loaded kernels."""
        ks = sorted(self.points)
        ts = [self.points[k] for k in ks]
        for i in range(len(ts) - 2, -1, -1):
            ts[i] = min(ts[i], ts[i + 1])
        for i in range(1, len(ts)):
            ts[i] = min(ts[i], min(ts[j] * ks[i] / ks[j] for j in range(i)))
        return ks, ts

    def ab(self) -> tuple[float, float]:
        ks, ts = self.clipped()
        if len(ks) == 1:
            return ts[0], 0.0
        (k1, k2), (t1, t2) = ks[-2:], ts[-2:]
        b = (t2 - t1) / (k2 - k1)
        if b <= 0:  # flat within noise: a tiny positive slope
            b = 0.02 * t2 / k2
        return max(t2 - b * k2, 0.0), b

    def estimate(self, N: int, chunk: int) -> float:
        a, b = self.ab()
        if N in self.points and chunk >= N:
            ks, ts = self.clipped()
            return ts[ks.index(N)]
        return math.ceil(N / max(chunk, 1)) * a + b * N


@dataclass
class Plan:
    """What is cached per argument signature."""

    n: int
    m: int
    out_def: object
    out_shapes: list
    mem: MemModel | None
    record_s: float | None
    tape_length: int | None
    fits: dict = field(default_factory=lambda: {"forward": Fit(), "reverse": Fit()})
    probe_s: float = 0.0
    dense: dict = field(default_factory=dict)  # the decided mode of the dense Jacobian
    patterns: dict = field(default_factory=dict)  # per fingerprint: pattern, colourings, mode


def analyse(f, args, nums, mode):
    """Record f once: output structure, tape size, memory model, recording time."""
    leaves, _, _ = prepare_args(args, nums)
    n = sum(size_of(x.shape) for x in leaves)
    itemsize = max([np.dtype(x.dtype).itemsize for x in leaves] + [4])
    try:
        t0 = time.perf_counter()
        rec = reverse_record(f, args, nums)
        t_rec = time.perf_counter() - t0
    except Exception:
        if mode == "reverse":
            raise
        # f cannot be recorded (reverse mode lacks something it uses): forward only.
        _, o_def, shapes = forward_lanes(f, args, nums, None, 0, min(n, 1))
        plan = Plan(n, sum(size_of(s) for s in shapes), o_def, shapes, None, None, None)
        plan.dense.update(mode="forward", reason="f could not be recorded for reverse mode")
        return plan, None
    if t_rec < 0.05:  # time a second recording: the first may include one-off costs
        t0 = time.perf_counter()
        rec2 = reverse_record(f, args, nums)
        t2 = time.perf_counter() - t0
        if t2 < t_rec:
            rec, t_rec = rec2, t2
    m = sum(rec.sizes)
    itemsize = max(itemsize, rec.dtype.itemsize)
    mem = memory_model(rec.tape, rec.vars_, rec.o_leaves, n, m, itemsize)
    plan = Plan(n, m, rec.o_def, rec.shapes, mem, t_rec, len(rec.tape.entries))
    return plan, rec


def _probe(plan: Plan, engine, runs: dict, N: dict, cap: dict, prefilled: dict, k: int, modes=("forward", "reverse")):
    """Time passes of k lanes in the given modes, interleaved (so that a burst of load
    elsewhere on the machine hits both), keeping the fastest of a few runs of each."""
    todo = []
    for which in modes:
        kk = max(1, min(k, N[which], cap[which]))
        if kk not in plan.fits[which].points:
            todo.append((which, kk))
    best: dict = {}
    rounds, previous = 0, None
    while todo:
        for which, kk in todo:
            if which == "reverse":  # re-record: the recording time is part of the model
                t0 = time.perf_counter()
                engine.rec = reverse_record(engine.f, engine.args, engine.nums)
                plan.record_s = min(plan.record_s, time.perf_counter() - t0)
            t0 = time.perf_counter()
            block = runs[which](0, kk)
            dt = time.perf_counter() - t0
            if which not in best or dt < best[which]:
                best[which] = dt
            have = prefilled.get(which)
            if have is None or have[1] < kk:
                prefilled[which] = (0, kk, block)
        rounds += 1
        worst = max(best.values())
        # Cheap passes: repeat for ~10 ms, so that being descheduled for a few ms (a loaded
        # machine) cannot spoil every run; others at least twice; and on while the times
        # still drop (the first runs load and compile kernels, warm caches).
        target = min(15, max(3, int(0.01 / max(worst, 1e-6)))) if worst < 2e-3 else 2
        warming = previous is not None and worst < 0.8 * previous and rounds < 8
        if rounds >= target and not warming:
            break
        previous = worst
    for which, kk in todo:
        plan.fits[which].points[kk] = best[which]


def choose(plan: Plan, engine, colors_f, colors_r, Nf: int, Nr: int, cap_f: int, cap_r: int, prefilled: dict):
    """Measure both modes on small lane counts (cached per plan) and pick the cheaper."""
    if Nr == 0 and Nf > 0:
        return "reverse", "no output lanes: nothing to sweep"
    if Nf <= 1 and Nf <= Nr:
        return "forward", f"{Nf} input lane(s): one forward pass is the least work"
    if plan.mem is None or plan.record_s is None:
        return "forward", "f could not be recorded for reverse mode"
    if Nr >= LOPSIDED * max(Nf, 1):
        return "forward", f"{Nf} forward lane(s) against {Nr} reverse: decided by the lane counts, without probing"
    if Nf >= LOPSIDED * max(Nr, 1):
        return "reverse", f"{Nr} reverse lane(s) against {Nf} forward: decided by the lane counts, without probing"
    t_start = time.perf_counter()
    fits = plan.fits
    runs = {
        "forward": (lambda c0, c1: engine.forward(colors_f, c0, c1)),
        "reverse": (lambda c0, c1: engine.reverse(colors_r, c0, c1)),
    }
    N = {"forward": Nf, "reverse": Nr}
    cap = {"forward": cap_f, "reverse": cap_r}

    def estimates():
        ef = fits["forward"].estimate(Nf, cap_f)
        er = plan.record_s + fits["reverse"].estimate(Nr, cap_r)
        return ef, er

    def probe(k: int, modes=("forward", "reverse")):
        _probe(plan, engine, runs, N, cap, prefilled, k, modes)

    probe(PROBE_LANES[0])
    probe(PROBE_LANES[1])
    # Larger probes, per mode, while they are affordable: when the estimates are close, or when
    # the probe costs at most half the best mode's estimated total.  Extrapolating from few lanes
    # misses cache effects and noise of the small probes; larger probes correct it, and those of
    # the winner are kept.
    for k in PROBE_LANES[2:]:
        ef, er = estimates()
        close = max(ef, er) <= AMBIGUOUS * min(ef, er)
        more = []
        for which, est in (("forward", 0.0), ("reverse", plan.record_s)):
            kk = min(k, N[which], cap[which])
            if kk <= max(fits[which].points):
                continue
            cost = est + fits[which].estimate(kk, kk)
            if close or cost <= PROBE_BUDGET * min(ef, er):
                more.append(which)
        if not more:
            break
        probe(k, tuple(more))
    # Passes made while probing count for the caller only through prefilled blocks.
    engine.passes = 0
    ef, er = estimates()
    plan.probe_s += time.perf_counter() - t_start
    chosen = "forward" if ef <= er else "reverse"
    reason = (
        f"cost model: forward {ef * 1e3:.3g} ms ({Nf} lanes) vs reverse {er * 1e3:.3g} ms ({Nr} lanes, "
        f"including {plan.record_s * 1e3:.3g} ms to record {plan.tape_length} tape entries)"
    )
    return chosen, reason


def make_decision(plan: Plan, chosen: str, requested: str, Nf: int, Nr: int, cap_f: int, cap_r: int, limit: int, reason: str) -> Decision:
    """The frozen :class:`~.decision.Decision` for a chosen mode, from the plan's models.

    Examples
    --------
    >>> from dualad.transforms.costmodel import Plan, make_decision
    >>> d = make_decision(Plan(4, 2, None, [(2,)], None, None, None), "reverse", "reverse", 4, 2, 4, 1, 1 << 30, "asked")
    >>> d.mode, d.lanes, d.chunk, d.passes
    ('reverse', 2, 1, 2)
    """
    lanes = Nf if chosen == "forward" else Nr
    chunk = max(1, min(cap_f if chosen == "forward" else cap_r, max(lanes, 1)))
    kw: dict = {}
    if plan.mem is not None:
        kw.update(forward_lane_bytes=plan.mem.forward_lane, reverse_lane_bytes=plan.mem.reverse_lane, base_bytes=plan.mem.base)
    ff, fr = plan.fits["forward"], plan.fits["reverse"]
    if ff.points and fr.points and plan.record_s is not None:
        (a_f, b_f), (a_r, b_r) = ff.ab(), fr.ab()
        kw.update(forward_pass_s=a_f, forward_lane_s=b_f, reverse_pass_s=a_r, reverse_lane_s=b_r,
                  estimate_forward_s=ff.estimate(Nf, cap_f), estimate_reverse_s=plan.record_s + fr.estimate(Nr, cap_r))
    return Decision(
        mode=chosen,
        requested=requested,
        n=plan.n,
        m=plan.m,
        lanes=lanes,
        chunk=chunk,
        passes=-(-lanes // chunk) if lanes else 0,
        memory_limit=limit,
        tape_length=plan.tape_length,
        reverse_record_s=plan.record_s,
        probe_s=plan.probe_s,
        reason=reason,
        **kw,
    )
