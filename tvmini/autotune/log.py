"""The tuning log: the best config per (workload, target), as a JSON file builds read.

Format (one JSON object, one entry per line, written atomically: a temporary file
renamed into place)::

    {"format": "tvmini-autotune-log", "version": 1, "entries": [
      {"key": "<topi.workload(...).key>", "target": "llvm -mcpu=znver3",
       "op": "matmul", "tag": "gemm", "inputs": [[[512, 512], "float32"], ...],
       "output": [[512, 512], "float32"],
       "config": {"mi": 6, "bn": 16, "order": "kij", "tiles": "ij", "parallel": true},
       "seconds": 0.0021, "default_config": {...}, "default_seconds": 0.0025,
       "measured": 48, "tvmini": "0.1.0"}, ...]}

An entry is found by ``key`` (a hash of the compute's whole te definition, shapes and
dtypes included) and ``target`` (for the CPU, the host CPU's name: a config tuned on
another CPU is not applied). The other fields are for people reading the log. A new
tuning run of the same workload replaces its entry: on a machine whose load changes,
the latest measurement is the relevant one. The thread count is not part of the key:
tune with the ``TVMINI_NUM_THREADS`` the builds will run with.

Which log builds read: the file given to :func:`use_log`, else the file named by
``$TVMINI_AUTOTUNE_LOG``, else none. A log that is missing, not JSON, not a tvmini
tuning log, or whose entry for a workload names knobs or values that the schedule rule
does not offer (a log from another tvmini version, or edited by hand) raises
:class:`~tvmini.errors.DataError` naming the file: a log that was asked for is never
silently ignored, since that would quietly build the untuned schedules.
"""
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from .. import topi
from .._version import __version__
from ..errors import DataError
from ..fileio import atomic_open

FORMAT = "tvmini-autotune-log"
VERSION = 1
ENV = "TVMINI_AUTOTUNE_LOG"


def target_key(target):
    """The target as logs record it: CPU targets name the host CPU (``llvm -mcpu=znver3``),
    and the feature changes of ``TVMINI_CPU_FEATURES`` when it is set."""
    kind = str(target).split()[0]
    if kind in ("llvm", "cpu", "c"):
        import llvmlite.binding as llvm
        from ..codegen.llvm_target import FEATURES_ENV
        changes = os.environ.get(FEATURES_ENV, "").strip()
        return f"llvm -mcpu={llvm.get_host_cpu_name()}" + (f" -mattr={changes}" if changes else "")
    return str(target)


_SCALARS = (bool, int, float, str)


@dataclass
class LogEntry:
    """The tuned config of one compute (``key``) on one ``target``, with its measurements."""
    key: str
    target: str
    op: str
    tag: str
    inputs: list
    output: list
    config: dict
    seconds: float
    default_config: dict = field(default_factory=dict)
    default_seconds: Optional[float] = None
    measured: int = 0
    tvmini: str = __version__

    def to_json(self):
        return asdict(self)

    @classmethod
    def from_json(cls, data, where):
        """An entry from its JSON object; DataError (naming ``where``) when malformed."""
        if not isinstance(data, dict):
            raise DataError(f"{where}: an entry must be a JSON object, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        missing = sorted(n for n in ("key", "target", "op", "tag", "inputs", "output", "config", "seconds")
                         if n not in data)
        if unknown or missing:
            raise DataError(f"{where}: " + "; ".join(
                ([f"unknown fields {unknown}"] if unknown else []) + ([f"missing fields {missing}"] if missing else [])))
        for name in ("key", "target", "op", "tag"):
            if not isinstance(data[name], str):
                raise DataError(f"{where}: {name!r} must be a string, got {data[name]!r}")
        for name in ("inputs", "output"):
            if not isinstance(data[name], list):
                raise DataError(f"{where}: {name!r} must be a list, got {data[name]!r}")
        for name in ("config", "default_config"):
            value = data.get(name, {})
            if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, _SCALARS)
                                                      for k, v in value.items()):
                raise DataError(f"{where}: {name!r} must map knob names to numbers, strings or booleans, "
                                f"got {value!r}")
        for name in ("seconds", "default_seconds"):
            value = data.get(name)
            if not (value is None and name != "seconds"
                    or isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0):
                raise DataError(f"{where}: {name!r} must be a non-negative number, got {value!r}")
        return cls(**data)


class TuningLog:
    """The entries of a tuning log, at most one per (key, target)."""

    def __init__(self, entries=()):
        self._entries = {}
        for entry in entries:
            self.record(entry)

    @property
    def entries(self):
        return list(self._entries.values())

    def __len__(self):
        return len(self._entries)

    def record(self, entry):
        """Add ``entry``, replacing the entry of the same workload and target."""
        self._entries[(entry.key, entry.target)] = entry

    def find(self, key, target):
        """The entry for workload ``key`` on ``target`` (a target string), or None."""
        return self._entries.get((key, target_key(target)))

    @classmethod
    def load(cls, path):
        """Read a log file; DataError when it is missing, not JSON or not a tuning log."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise DataError(f"tuning log {path}: cannot read it ({e.strerror or e})") from None
        try:
            data = json.loads(text)
        except ValueError as e:
            raise DataError(f"tuning log {path}: not valid JSON ({e})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"{path} is not a tvmini tuning log (expected a JSON object with "
                            f"\"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise DataError(f"tuning log {path}: version {data.get('version')!r}; this tvmini reads version "
                            f"{VERSION} (tune again to rewrite it)")
        entries = data.get("entries")
        if not isinstance(entries, list):
            raise DataError(f"tuning log {path}: \"entries\" must be a list")
        return cls(LogEntry.from_json(e, f"tuning log {path}, entry {i}") for i, e in enumerate(entries))

    def save(self, path):
        """Write the log to ``path`` atomically (a temporary file renamed into place)."""
        path = Path(path)
        lines = ",\n".join(" " + json.dumps(e.to_json()) for e in self._entries.values())
        text = f'{{"format": "{FORMAT}", "version": {VERSION}, "entries": [\n{lines}\n]}}'
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "w") as f:
            f.write(text + "\n")


def load_log(path):
    """The :class:`TuningLog` stored at ``path``."""
    return TuningLog.load(path)


# --------------------------------------------------------------------------- the log builds read

_UNSET = object()
_chosen = _UNSET          # a path from use_log, None (no log), or _UNSET (use the environment)
_cache = {}               # path -> ((mtime_ns, size), TuningLog)


class _Restore:
    """What :func:`use_log` returns: as a context manager it restores the previous log."""

    def __init__(self, previous):
        self._previous = previous

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _chosen
        _chosen = self._previous
        return False


def use_log(path):
    """Builds from now on use the configs tuned in ``path`` (None: no tuning log, even if
    ``$TVMINI_AUTOTUNE_LOG`` is set). The file is read now, so a bad one fails here.
    Kernels already built in this process keep their schedules. Usable as a context
    manager: ``with use_log(p): ...`` restores the previous choice on exit."""
    global _chosen
    if path is not None:
        path = os.fspath(path)
        _read(path)
    previous, _chosen = _chosen, path
    return _Restore(previous)


def active_log():
    """The path builds read tuned configs from, or None."""
    if _chosen is not _UNSET:
        return _chosen
    return os.environ.get(ENV) or None


def _read(path):
    """The log at ``path``, parsed once per version of the file."""
    try:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError as e:
        raise DataError(f"tuning log {path}: cannot read it ({e.strerror or e})") from None
    cached = _cache.get(path)
    if cached is None or cached[0] != stamp:
        cached = _cache[path] = (stamp, TuningLog.load(path))
    return cached[1]


def lookup(tensor, target, knobs):
    """The tuned config of compute ``tensor`` on ``target`` in the active log, or None.

    Installed as ``topi``'s config source, so ``topi.default_schedule`` (and every graph
    kernel build) asks it for each tunable compute.
    """
    path = active_log()
    if path is None:
        return None
    log = _read(path)
    workload = topi.workload(tensor)
    entry = log.find(workload.key, target)
    if entry is None:
        return None
    problems = knobs.problems(entry.config)
    if problems:
        raise DataError(f"tuning log {path}: the entry for {workload.describe()} (tag {workload.tag!r}) has config "
                        f"{entry.config}, which this tvmini's schedule rule does not offer: {'; '.join(problems)}; "
                        "tune that workload again or remove its entry")
    return entry.config
