"""``tune``: measure schedule configs of one op at one shape and keep the fastest.

The op's definition is built once; ``topi.tunable`` lists its computes whose schedule
rule has knobs. Each candidate config is built with ``topi.default_schedule(...,
configs=...)``, run on fixed random inputs, compared with the result of the default
(heuristic) schedule, and timed with ``Module.time_evaluator`` (the fastest of
``repeat`` batches of ``number`` calls). With several tunable computes, they are tuned
one after another, each with the others at their best so far; every measurement times
the whole kernel.

The default config is always the first measurement; at the end the default and the few
fastest configs are measured again, and each config counts with its fastest time. The
result is the config with the fastest time, so the tuned kernel is never slower than
the default one *in the tuner's own measurements* (on a shared machine another run may
rank them differently).

A candidate whose output differs from the default's is a compiler bug: ``tune`` raises
:class:`~tvmini.errors.TuningError` naming the config instead of choosing it.
"""
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .. import te, topi
from ..codegen import build
from ..errors import TuningError
from ..tir import dtype as dt
from ..tir.expr import Const
from .log import LogEntry, TuningLog, target_key
from .space import ConfigSpace


@dataclass
class TaskResult:
    """One tunable compute of the op: its workload, knobs and chosen config."""
    workload: object
    knobs: object
    config: dict
    space_size: int


@dataclass
class TuneResult:
    """What :func:`tune` found. ``best_seconds`` and ``default_seconds`` are per call of
    the whole kernel (each config's fastest measurement); ``measured`` lists every
    measurement as ``({workload key: config}, seconds)`` in order (a config measured
    again appears again); ``entries`` are the log entries (one per tunable compute)."""
    op: str
    target: str
    tasks: list
    default_seconds: float
    best_seconds: float
    measured: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    tuning_seconds: float = 0.0

    @property
    def config(self):
        """The best config of the only tunable compute (see ``tasks`` when there are several)."""
        if len(self.tasks) != 1:
            raise TuningError(f"{self.op} has {len(self.tasks)} tunable computes; read result.tasks[i].config")
        return self.tasks[0].config

    @property
    def default_config(self):
        """The heuristic config of the only tunable compute."""
        if len(self.tasks) != 1:
            raise TuningError(f"{self.op} has {len(self.tasks)} tunable computes; read result.tasks[i].knobs.default")
        return self.tasks[0].knobs.default

    @property
    def speedup(self):
        """Default time over tuned time (>= 1 in these measurements)."""
        return self.default_seconds / self.best_seconds

    def __str__(self):
        configs = "; ".join(f"{t.workload.op}: {t.config}" for t in self.tasks)
        return (f"{self.op} on {self.target}: default {self.default_seconds * 1e3:.3f} ms, tuned "
                f"{self.best_seconds * 1e3:.3f} ms ({self.speedup:.2f}x) with {configs} "
                f"({len(self.measured)} measurements in {self.tuning_seconds:.1f} s)")


def _definition(op):
    if callable(op):
        return getattr(op, "__name__", "op"), op
    if isinstance(op, str):
        fn = getattr(topi, op, None)
        if callable(fn) and not isinstance(fn, type):
            return op, fn
        raise TuningError(f"tune: topi has no operator named {op!r}")
    raise TuningError(f"tune: op must be a topi operator name or a function returning te tensors, got {op!r}")


def _placeholder(spec, index, dtype):
    if isinstance(spec, te.Tensor):
        if not isinstance(spec.op, te.PlaceholderOp):
            raise TuningError(f"tune: input {index} ({spec.name}) is computed; inputs are placeholders or shapes")
        if not all(isinstance(s, Const) for s in spec.shape):
            raise TuningError(f"tune: input {index} ({spec.name}) has symbolic shape {list(spec.shape)}; "
                              "tuning measures one concrete shape")
        return spec
    if isinstance(spec, (tuple, list)) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1
                                               for d in spec):
        return te.placeholder(tuple(spec), name=f"in{index}", dtype=dtype)
    raise TuningError(f"tune: input {index} must be a te.placeholder or a shape (a tuple of positive ints), "
                      f"got {spec!r}")


def _random(rng, shape, dtype):
    if dt.is_float(dtype):
        return rng.standard_normal(shape).astype(dtype)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    return rng.integers(0, 4, shape).astype(dtype)


def _shape(t):
    return tuple(int(s.value) for s in t.shape)


def _same(got, want):
    """Whether two results of the same op agree up to float reassociation."""
    if got.dtype.kind != "f":
        return np.array_equal(got, want)
    scale = float(np.nanmax(np.abs(want))) if want.size and np.isfinite(want).any() else 1.0
    return np.allclose(got, want, rtol=1e-3, atol=1e-4 * max(scale, 1.0), equal_nan=True)


def tune(op, *inputs, target="llvm", trials=16, number=3, repeat=3, min_repeat_ms=5, confirm=3, seed=0, log=None,
         dtype="float32", **attrs):
    """Tune the schedule of ``op`` (a topi operator name such as ``"matmul"`` or
    ``"conv2d"``, or a function returning te tensors) for ``inputs`` (te placeholders,
    or shapes made into placeholders of ``dtype``); ``attrs`` go to the op
    (``padding=1``).

    At most ``trials`` configs are measured per tunable compute, the default first: all
    of them when the space is that small, else a random sample drawn with ``seed``.
    Each measurement is the fastest of ``repeat`` batches of at least ``number`` calls
    and ``min_repeat_ms`` milliseconds. Then the default and the ``confirm`` fastest
    other configs are measured once more (a burst of load from other processes during
    one measurement should not decide the choice; ``confirm=0``: no second round); a
    config's time is its fastest measurement. With ``log`` (a path), the best configs are recorded in that tuning
    log (created, or updated in place); builds read it after
    :func:`~tvmini.autotune.use_log` or with ``$TVMINI_AUTOTUNE_LOG`` set.
    Returns a :class:`TuneResult`.
    """
    start = time.perf_counter()
    name, define = _definition(op)
    if str(target).split()[0] not in ("llvm", "cpu"):
        raise TuningError(f"tune {name}: target {target!r}: tuning measures kernels on the host CPU ('llvm') only")
    existing = TuningLog.load(log) if log is not None and os.path.exists(log) else TuningLog()
    placeholders = [_placeholder(x, i, dtype) for i, x in enumerate(inputs)]
    outs = define(*placeholders, **attrs)
    outs = [outs] if isinstance(outs, te.Tensor) else list(outs)
    tasks = topi.tunable(outs, target)
    if not tasks:
        raise TuningError(f"tune {name}: none of its computes ({', '.join(sorted({t.op.tag for t in outs}))}) has a "
                          f"schedule rule with knobs for target {target!r}; nothing to tune")
    rng = np.random.default_rng(seed)
    data = [_random(rng, _shape(p), p.dtype) for p in placeholders]
    results = [np.zeros(_shape(t), t.dtype) for t in outs]
    args = placeholders + outs
    workloads = [topi.workload(t) for t, _ in tasks]
    reference, kernels, fastest, measured = [], {}, {}, []

    def key(configs):
        return json.dumps([configs[t] for t, _ in tasks], sort_keys=True)

    def measure(configs):
        """Build (once), check and time the kernel with ``configs`` ({tensor: config})."""
        k = key(configs)
        if k not in kernels:
            sch = topi.default_schedule(outs, target, configs=configs)
            kernels[k] = (build(sch, args, target=target, name=f"tune_{name}"), dict(configs))
            for r in results:
                r.fill(0)
            kernels[k][0](*data, *results)
            if not reference:
                reference.extend(r.copy() for r in results)
            for out, got, want in zip(outs, results, reference):
                if not _same(got, want):
                    raise TuningError(f"tune {name}: config {[configs[t] for t, _ in tasks]} changes the result of "
                                      f"{out.name} (max difference {np.nanmax(np.abs(got - want))}); this is a "
                                      "tvmini bug, please report it with this config")
        seconds = kernels[k][0].time_evaluator(number=number, repeat=repeat, min_repeat_ms=min_repeat_ms)(
            *data, *results).min
        measured.append(({w.key: dict(configs[t]) for w, (t, _) in zip(workloads, tasks)}, seconds))
        fastest[k] = min(seconds, fastest.get(k, seconds))

    def best():
        return kernels[min(fastest, key=fastest.get)][1]

    default = {t: dict(knobs.default) for t, knobs in tasks}
    measure(default)
    for index, (tensor, knobs) in enumerate(tasks):
        current = best()
        for config in ConfigSpace(knobs).candidates(trials, seed=seed + index, first=current[tensor])[1:]:
            measure({**current, tensor: config})
    if confirm:
        others = sorted((k for k in fastest if k != key(default)), key=fastest.get)[:confirm]
        for k in [key(default)] + others:
            measure(kernels[k][1])
    chosen = best()
    best_seconds, default_seconds = fastest[key(chosen)], fastest[key(default)]
    result = TuneResult(
        op=name, target=target_key(target),
        tasks=[TaskResult(w, knobs, chosen[t], knobs.size()) for w, (t, knobs) in zip(workloads, tasks)],
        default_seconds=default_seconds, best_seconds=best_seconds, measured=measured)
    result.entries = [LogEntry(key=w.key, target=result.target, op=w.op, tag=w.tag,
                               inputs=[[list(s), d] for s, d in w.inputs], output=[list(w.output[0]), w.output[1]],
                               config=dict(chosen[t]), seconds=best_seconds, default_config=dict(knobs.default),
                               default_seconds=default_seconds, measured=len(measured))
                      for w, (t, knobs) in zip(workloads, tasks)]
    if log is not None:
        for entry in result.entries:
            existing.record(entry)
        existing.save(log)
    result.tuning_seconds = time.perf_counter() - start
    return result
