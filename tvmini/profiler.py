"""The profiler: where the time of a training step goes, kernel by kernel.

::

    with tm.profiler() as prof:
        for _ in range(10):
            opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    print(prof.table())                 # grouped by (op, shapes), sorted by total time
    print(prof.table(group_by="op"))    # grouped by op name only
    prof.export_chrome_trace("step.json")   # open in chrome://tracing or ui.perfetto.dev

While the ``with`` block runs, every kernel call (every call of a
:class:`~tvmini.runtime.Module`, which is how the graph layer runs its ops) is recorded
as a :class:`ProfileEvent`: op name, argument shapes, device, wall time, bytes moved and
FLOPs. The op name is the kernel's name without the ``_<10 hex digits>`` key digest the
graph layer appends (``dense_30c694e409`` -> ``dense``). Bytes moved are the sizes of the
buffer arguments added up, as if each were read or written once (a buffer updated in place
is passed as input and as output, so it counts twice); FLOPs are counted from the kernel's loop IR when it is built (``Module.flops``, see
``tir.analysis``), None when they depend on run-time extents.

Time is ``time.perf_counter_ns`` around the native call only, so argument checks and
output allocation count as time *outside* kernels, with the rest of the Python work; the
table's last line gives the block's wall time and that outside share. Kernels built
inside the block (a step's first run) add their compile time to the outside share, so
profile after a warm-up step, as the examples' ``--profile`` does. On CUDA the native
call only launches kernels asynchronously, so the times are launch times: measuring the
kernels themselves would need CUDA events.

The profiler observes calls through ``runtime.module.add_call_observer``, next to debug
tracing (``TVMINI_DEBUG=2``): both may be on at once. Profilers may be nested (each one
records every call made inside its own block); one profiler object records one block,
so entering it a second time raises :class:`ProfilerError`.
"""
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass

import numpy as np

from .errors import TVMiniError
from .runtime import module as runtime_module

_DIGEST = re.compile(r"_[0-9a-f]{10}$")


class ProfilerError(TVMiniError):
    """A profiler used out of order (entered twice)."""


def op_name(kernel_name):
    """The op a kernel runs: its name without the graph layer's ``_<10 hex>`` digest."""
    return _DIGEST.sub("", kernel_name)


@dataclass(frozen=True)
class ProfileEvent:
    """One kernel call.

    ``shapes`` are the buffer arguments' shapes in call order (scalars left out),
    ``outputs`` the indices of those the kernel writes; ``start_ns`` is a
    ``time.perf_counter_ns()`` reading; ``bytes`` the buffer arguments' total size;
    ``flops`` None when unknown; ``thread`` the calling thread's ``threading.get_ident()``.
    """

    op: str
    kernel: str
    shapes: tuple
    outputs: tuple
    device: str
    start_ns: int
    duration_ns: int
    bytes: int
    flops: int
    thread: int


class _KernelInfo:
    """What the profiler needs about one module, worked out at its first call."""

    __slots__ = ("op", "kernel", "device", "buffers", "outputs", "itemsizes", "flops")

    def __init__(self, module):
        buffers = [i for i, spec in enumerate(module.arg_specs) if not spec.scalar]
        self.op, self.kernel, self.device = op_name(module.name), module.name, str(module.device)
        self.buffers = tuple(buffers)
        self.outputs = tuple(n for n, i in enumerate(buffers) if module.arg_specs[i].written)
        self.itemsizes = tuple(np.dtype(module.arg_specs[i].dtype).itemsize for i in buffers)
        self.flops = module.flops


def _shape_text(shapes, outputs):
    """``"10x2 16x2 16 -> 10x16"``: inputs, then the written buffers after an arrow."""
    def one(shape):
        return "x".join(map(str, shape)) if shape else "()"
    ins = [one(s) for n, s in enumerate(shapes) if n not in outputs]
    outs = [one(s) for n, s in enumerate(shapes) if n in outputs]
    return " ".join(ins) + (" -> " + " ".join(outs) if outs else "")


@dataclass
class TableRow:
    """One group of calls in a :class:`ProfileTable` (or its total: ``op == "total"``).

    ``total_ns`` is the summed wall time, ``bytes`` the summed bytes moved, ``flops`` the
    summed FLOPs (None if any call's FLOPs are unknown), ``share`` the fraction of all
    kernel time in the profile."""

    op: str
    shapes: str
    calls: int
    total_ns: int
    bytes: int
    flops: int
    share: float = 0.0

    @property
    def total_ms(self):
        return self.total_ns / 1e6

    @property
    def mean_ms(self):
        return self.total_ns / 1e6 / self.calls if self.calls else 0.0

    @property
    def gb_per_s(self):
        """Bytes moved per second, in GB/s (None for no measured time)."""
        return self.bytes / self.total_ns if self.total_ns else None

    @property
    def gflop_per_s(self):
        """FLOPs per second, in GFLOP/s (None when the FLOPs are unknown)."""
        return self.flops / self.total_ns if self.flops is not None and self.total_ns else None


@dataclass
class ProfileTable:
    """The grouped view of a profile; ``str()`` gives the printed table.

    ``rows`` are sorted by total time (largest first); ``total`` sums every row;
    ``wall_ns`` is the profiled block's wall time and ``outside_share`` the fraction of
    it spent outside kernels (Python overhead), clamped to [0, 1]."""

    rows: list
    total: TableRow
    wall_ns: int
    group_by: str
    limit: int = None

    @property
    def outside_share(self):
        if not self.wall_ns:
            return 0.0
        return min(1.0, max(0.0, 1.0 - self.total.total_ns / self.wall_ns))

    def __str__(self):
        shown = self.rows if self.limit is None else self.rows[:self.limit]
        with_shapes = self.group_by == "shapes"
        header = ["op"] + (["shapes"] if with_shapes else []) + \
            ["calls", "total ms", "mean ms", "kernel %", "GB/s", "GFLOP/s"]
        lines = [self._cells(r, with_shapes) for r in shown]
        hidden = self.rows[len(shown):]
        if hidden:
            lines.append([f"({len(hidden)} more)"] + ([""] if with_shapes else []) +
                         [str(sum(r.calls for r in hidden)), f"{sum(r.total_ns for r in hidden) / 1e6:.3f}", "",
                          f"{100 * sum(r.share for r in hidden):.1f}", "", ""])
        lines.append(self._cells(self.total, with_shapes))
        widths = [max(len(row[c]) for row in [header] + lines) for c in range(len(header))]
        left = 2 if with_shapes else 1   # text columns, aligned left
        out = []
        for n, row in enumerate([header] + lines):
            if n == len(lines):      # a rule above the total row
                out.append("  ".join("-" * w for w in widths))
            out.append("  ".join(cell.ljust(w) if c < left else cell.rjust(w)
                                 for c, (cell, w) in enumerate(zip(row, widths))).rstrip())
        total = self.total
        out.append(f"wall {self.wall_ns / 1e6:.3f} ms in the profiled block: {total.total_ms:.3f} ms in "
                   f"{total.calls} kernel calls, {(self.wall_ns - total.total_ns) / 1e6:.3f} ms outside kernels "
                   f"({100 * self.outside_share:.1f}% of the wall time: Python overhead)")
        return "\n".join(out)

    @staticmethod
    def _cells(row, with_shapes):
        def rate(value):
            return "-" if value is None else f"{value:.2f}"
        return [row.op] + ([row.shapes] if with_shapes else []) + [
            str(row.calls), f"{row.total_ms:.3f}", f"{row.mean_ms:.4f}", f"{100 * row.share:.1f}",
            rate(row.gb_per_s), rate(row.gflop_per_s)]


class Profiler:
    """Records every kernel call made inside its ``with`` block (see the module docstring).

    ``events`` lists the calls as :class:`ProfileEvent` in call order;
    ``total_kernel_time`` and ``wall_time`` are seconds (the latter up to now while the
    block is still running)."""

    def __init__(self):
        self._raw = []          # (kernel info, shapes, start_ns, duration_ns, thread) per call
        self._info = {}         # module -> _KernelInfo
        self._events = []
        self._start_ns = self._end_ns = None
        self._thread = None

    def __enter__(self):
        if self._start_ns is not None:
            raise ProfilerError("this profiler has already recorded a block; use a new tm.profiler()")
        self._thread = threading.get_ident()
        self._start_ns = time.perf_counter_ns()
        runtime_module.add_call_observer(self._record)
        return self

    def __exit__(self, *exc):
        runtime_module.remove_call_observer(self._record)
        self._end_ns = time.perf_counter_ns()
        return False

    def _record(self, module, args, start_ns, end_ns):
        """The call observer: keep the raw facts; events are built when asked for."""
        info = self._info.get(module)
        if info is None:
            info = self._info[module] = _KernelInfo(module)
        self._raw.append((info, tuple([args[i].shape for i in info.buffers]), start_ns, end_ns - start_ns,
                          threading.get_ident()))

    @property
    def events(self):
        """Every kernel call recorded so far, as :class:`ProfileEvent`, in call order."""
        for info, shapes, start, duration, thread in self._raw[len(self._events):]:
            nbytes = sum(math.prod(s) * size for s, size in zip(shapes, info.itemsizes))
            self._events.append(ProfileEvent(info.op, info.kernel, shapes, info.outputs, info.device, start,
                                             duration, nbytes, info.flops, thread))
        return list(self._events)

    @property
    def total_kernel_time(self):
        """Seconds spent inside kernels."""
        return sum(raw[3] for raw in self._raw) / 1e9

    @property
    def wall_time(self):
        """Seconds of the ``with`` block (so far, while it runs)."""
        return self._wall_ns() / 1e9

    def _wall_ns(self):
        if self._start_ns is None:
            return 0
        return (self._end_ns if self._end_ns is not None else time.perf_counter_ns()) - self._start_ns

    def table(self, group_by="shapes", limit=None):
        """The calls grouped and sorted by total time, as a :class:`ProfileTable`.

        ``group_by``: ``"shapes"`` groups by (op, argument shapes), ``"op"`` by op name
        only; ``limit`` caps the rows printed (the rest are summed in one line; the
        total always covers every call)."""
        if group_by not in ("shapes", "op"):
            raise ProfilerError(f"table: group_by must be 'shapes' or 'op', got {group_by!r}")
        groups = {}
        for e in self.events:
            shapes = _shape_text(e.shapes, e.outputs) if group_by == "shapes" else ""
            row = groups.get((e.op, shapes))
            if row is None:
                row = groups[e.op, shapes] = TableRow(e.op, shapes, 0, 0, 0, 0)
            row.calls += 1
            row.total_ns += e.duration_ns
            row.bytes += e.bytes
            row.flops = None if row.flops is None or e.flops is None else row.flops + e.flops
        rows = sorted(groups.values(), key=lambda r: (-r.total_ns, r.op, r.shapes))
        flops = [r.flops for r in rows]
        total = TableRow("total", "", sum(r.calls for r in rows), sum(r.total_ns for r in rows),
                         sum(r.bytes for r in rows), None if None in flops else sum(flops), 1.0 if rows else 0.0)
        for r in rows:
            r.share = r.total_ns / total.total_ns if total.total_ns else 0.0
        return ProfileTable(rows, total, self._wall_ns(), group_by, limit)

    def export_chrome_trace(self, path):
        """Write the calls as Chrome trace-event JSON (chrome://tracing, ui.perfetto.dev).

        One complete event (``"ph": "X"``, category ``"kernel"``) per call, named by its
        op, with ``ts``/``dur`` in microseconds from the start of the block and
        ``args`` holding kernel name, shapes, device, bytes and FLOPs; the block itself is
        one event of category ``"profiler"`` on the thread that entered it, so the gaps
        between kernels (time outside them) show. Events are sorted by ``ts``."""
        pid = os.getpid()
        threads = {self._thread: 0}
        origin = self._start_ns or 0
        events = [{"name": "tm.profiler", "cat": "profiler", "ph": "X", "ts": 0.0, "dur": self._wall_ns() / 1e3,
                   "pid": pid, "tid": 0, "args": {"kernel_ms": self.total_kernel_time * 1e3}}]
        for e in self.events:
            tid = threads.setdefault(e.thread, len(threads))
            args = {"kernel": e.kernel, "shapes": [list(s) for s in e.shapes], "outputs": list(e.outputs),
                    "device": e.device, "bytes": e.bytes}
            if e.flops is not None:
                args["flops"] = e.flops
            events.append({"name": e.op, "cat": "kernel", "ph": "X", "ts": (e.start_ns - origin) / 1e3,
                           "dur": e.duration_ns / 1e3, "pid": pid, "tid": tid, "args": args})
        events.sort(key=lambda ev: ev["ts"])
        meta = [{"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": "tvmini"}}]
        meta += [{"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                  "args": {"name": "main" if ident == self._thread else f"thread {ident}"}}
                 for ident, tid in threads.items()]
        with open(path, "w") as f:
            json.dump({"traceEvents": meta + events, "displayTimeUnit": "ms"}, f)
        return path


def profiler():
    """A new :class:`Profiler`: ``with tm.profiler() as prof: ...`` (see the module docstring)."""
    return Profiler()
