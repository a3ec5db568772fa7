"""Timing compiled kernels: the measuring loop and its summary.

Kept apart from :mod:`.module` so that what is timed is obvious: the native
function called with arguments that were checked and converted once, in a
tight loop timed by ``time.perf_counter`` on the CPU and by CUDA events on a
GPU (TVM's ``time_evaluator`` recipe: one warm-up call, ``repeat`` batches of
``number`` calls).
"""

import time

import numpy as np

from ..errors import ArgumentError


def check_timing_params(number, repeat, min_repeat_ms):
    """Raise ArgumentError (a TVMiniError) unless number >= 1, repeat >= 1 and min_repeat_ms >= 0."""
    if number < 1 or repeat < 1 or min_repeat_ms < 0:
        raise ArgumentError(
            f"time_evaluator needs number >= 1, repeat >= 1, min_repeat_ms >= 0; got "
            f"number={number}, repeat={repeat}, min_repeat_ms={min_repeat_ms}"
        )


class HostStopwatch:
    """Wall time between :meth:`start` and :meth:`stop` (``time.perf_counter``): on the
    CPU a kernel call returns when its work is done. A device whose calls only queue
    work has its own stopwatch (``cuda_driver.CudaStopwatch``)."""

    def start(self):
        self._start = time.perf_counter()

    def stop(self):
        """Seconds since :meth:`start`."""
        return time.perf_counter() - self._start


def time_calls(func, args, number, repeat, min_repeat_ms, stopwatch=None):
    """Time ``func(*args)`` and return a :class:`BenchmarkResult`.

    One warm-up call, then ``repeat`` batches of ``number`` calls, each timed by
    ``stopwatch`` (default: a :class:`HostStopwatch`); each result is a batch's
    seconds per call. With ``min_repeat_ms`` > 0, a batch shorter than that is
    rerun with more calls (at least twice as many, or as many as the last
    batch's rate predicts), and later batches keep the larger count.
    """
    check_timing_params(number, repeat, min_repeat_ms)
    stopwatch = stopwatch or HostStopwatch()
    func(*args)
    calls = number
    results = []
    for _ in range(repeat):
        while True:
            stopwatch.start()
            for _ in range(calls):
                func(*args)
            elapsed = stopwatch.stop()
            if elapsed * 1e3 >= min_repeat_ms:
                break
            predicted = calls * min_repeat_ms / max(elapsed * 1e3, 1e-3)
            calls = max(2 * calls, int(predicted) + 1)
        results.append(elapsed / calls)
    return BenchmarkResult(results)


def _fmt_seconds(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.4g} {unit}"
    return f"{seconds / 1e-9:.4g} ns"


class BenchmarkResult:
    """Timings of a kernel: ``results`` holds seconds per call, one per repeat;
    ``mean``, ``median``, ``std`` (population), ``min`` and ``max`` summarise it."""

    __slots__ = ("results", "mean", "median", "std", "min", "max")

    def __init__(self, results):
        self.results = [float(r) for r in results]
        if not self.results:
            raise ValueError("BenchmarkResult needs at least one result")
        values = np.asarray(self.results)
        self.mean = float(values.mean())
        self.median = float(np.median(values))
        self.std = float(values.std())
        self.min = float(values.min())
        self.max = float(values.max())

    def __repr__(self):
        stats = ", ".join(
            f"{key}={_fmt_seconds(getattr(self, key))}"
            for key in ("mean", "median", "std", "min", "max")
        )
        return f"BenchmarkResult({stats}, repeat={len(self.results)})"
