"""What every benchmark script shares: timing a Python callable the same way."""
import time


def best_seconds(fn, repeat=5):
    """The fastest of ``repeat`` timed calls of ``fn`` (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
