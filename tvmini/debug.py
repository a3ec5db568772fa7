"""Debug levels and the kernel inventory: what tvmini compiles and runs, and how long it takes.

Levels (``TVMINI_DEBUG=<n>`` in the environment, read when tvmini is imported, or
``tm.set_debug(n)`` at runtime), each adding to the one below:

* 0: silent (the default);
* 1: one line per kernel built: name, target, build seconds, and where the code came
  from (``in-process cache hit``, ``disk cache hit`` or ``miss``: compiled now);
* 2: every kernel call, with its arguments' shapes and its wall time;
* 3: the lowered loop IR of each kernel built;
* 4: the LLVM IR (CUDA C for a CUDA kernel) of each kernel built.

Everything goes through the ``logging`` module, logger ``"tvmini"`` (records at INFO for
build lines, DEBUG for calls and IR), never to stdout. While the application has not
configured logging (the root logger has no handlers), tvmini writes its own records to
stderr; once it has, the records flow only through the application's handlers, so
nothing is printed twice.

Calls are traced by a call observer (``runtime.module.add_call_observer``, shared with
the profiler) registered only at level 2 and above: below it, with no profiler active, a
kernel call pays one attribute check. The time logged is the native call's, without
the argument checks.

This module sits beside ``errors``: it imports nothing from tvmini at import time, so
the code generator can report builds to it without importing anything above itself.
"""
import logging
import os
import sys
from dataclasses import dataclass, field

logger = logging.getLogger("tvmini")

#: The current debug level (0..4); change it with :func:`set_debug`.
level = 0
MAX_LEVEL = 4

# How a build got its machine code (the "cache" column of the build line and inventory).
MEMORY_HIT, DISK_HIT, MISS = "in-process cache hit", "disk cache hit", "miss"


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr`` (looked up per record, so redirection and
    test capture work), and only while the application has configured no logging."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("[tvmini] %(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _ignored):
        pass

    def emit(self, record):
        if not logging.getLogger().handlers:
            super().emit(record)


_handler = _StderrHandler()


def set_debug(new_level):
    """Set the debug level (an int 0..4, see the module docstring); returns the old one."""
    global level
    if isinstance(new_level, bool) or not isinstance(new_level, int) or not 0 <= new_level <= MAX_LEVEL:
        from .errors import TVMiniError
        raise TVMiniError(f"set_debug: level must be an int from 0 to {MAX_LEVEL}, got {new_level!r}")
    old, level = level, new_level
    logger.setLevel(logging.DEBUG if new_level else logging.NOTSET)
    if new_level and _handler not in logger.handlers:
        logger.addHandler(_handler)
    if (old >= 2) != (new_level >= 2):
        from .runtime import module
        (module.add_call_observer if new_level >= 2 else module.remove_call_observer)(_log_call)
    return old


def get_debug():
    """The current debug level."""
    return level


def _level_from_env():
    text = os.environ.get("TVMINI_DEBUG", "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_LEVEL:
        logger.warning("TVMINI_DEBUG=%r is not an integer from 0 to %d; debug output stays off",
                       text, MAX_LEVEL)
        return 0
    return value


def _describe_arg(arg):
    shape = getattr(arg, "shape", None)
    if shape is None:
        return repr(arg)
    dtype = getattr(arg, "dtype", "")
    return f"{getattr(dtype, 'name', dtype)}{list(shape)}"


def _log_call(module, args, start_ns, end_ns):
    """Log a kernel call with its arguments and wall time (level 2; a call observer)."""
    logger.debug("call %s(%s) %.1f us", module.name, ", ".join(map(_describe_arg, args)),
                 (end_ns - start_ns) / 1e3)


# ---------------------------------------------------------------------------------------
# the kernel inventory

@dataclass
class KernelRecord:
    """One distinct kernel compiled (or loaded from disk) by this process.

    ``build_seconds`` is the time of the build that produced the machine code; ``hits``
    counts the later builds of the same program served by the in-process cache;
    ``origin`` is ``"compiled"`` or ``"disk"`` (loaded from the on-disk cache).
    """

    name: str
    target: str
    build_seconds: float
    origin: str
    hits: int = 0


@dataclass
class KernelCacheInfo:
    """What :func:`kernel_cache_info` returns; ``str()`` gives a readable table."""

    kernels: list = field(default_factory=list)
    disk_path: str = None          # None: the disk cache is turned off (TVMINI_CACHE=0)
    disk_entries: int = 0
    disk_bytes: int = 0

    def __str__(self):
        lines = [f"{len(self.kernels)} kernels compiled in this process"]
        if self.kernels:
            width = max(len(k.name) for k in self.kernels)
            lines.append(f"  {'name':<{width}}  target  build ms  origin    hits")
            for k in sorted(self.kernels, key=lambda k: -k.build_seconds):
                lines.append(f"  {k.name:<{width}}  {k.target:<6}  {k.build_seconds * 1e3:8.1f}  "
                             f"{k.origin:<8}  {k.hits:4d}")
        if self.disk_path is None:
            lines.append("disk cache: off (TVMINI_CACHE=0)")
        else:
            lines.append(f"disk cache: {self.disk_path}: {self.disk_entries} entries, "
                         f"{format_bytes(self.disk_bytes)}")
        return "\n".join(lines)


_kernels = {}          # cache key -> KernelRecord


def format_bytes(count):
    """``count`` bytes as a short human-readable size (``"1.5 MiB"``)."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def kernel_built(module, key, cache, func):
    """Record a finished build and log it (called by ``tm.build``).

    ``key`` identifies the machine code (the cache key), ``cache`` is one of
    ``MEMORY_HIT``/``DISK_HIT``/``MISS``, ``func`` the lowered loop IR.
    """
    record = _kernels.get(key)
    if record is None:
        origin = "disk" if cache == DISK_HIT else "compiled"
        _kernels[key] = KernelRecord(module.name, module.target, module.build_seconds, origin)
    elif cache == MEMORY_HIT:
        record.hits += 1
    if level >= 1:
        logger.info("build %s target=%s %.3f s (%s)", module.name, module.target, module.build_seconds, cache)
    if level >= 3:
        logger.debug("loop IR of %s:\n%s", module.name, func)
    if level >= 4:
        cuda = module.device.kind == "cuda"
        logger.debug("%s of %s:\n%s", "CUDA C" if cuda else "LLVM IR", module.name,
                     module.get_source("cuda" if cuda else "ll"))


def kernel_cache_info():
    """The kernels compiled by this process and the state of the on-disk cache."""
    from .runtime import disk_cache
    root = disk_cache.cache_dir()
    entries, size = disk_cache.info()
    kernels = [KernelRecord(r.name, r.target, r.build_seconds, r.origin, r.hits) for r in _kernels.values()]
    return KernelCacheInfo(kernels, None if root is None else str(root), entries, size)


set_debug(_level_from_env())
