"""Writing files whole or not at all: checkpoints, tuning logs, cached kernels, exported
libraries and their parameters.

A crash or an error while writing must never leave a half-written file where a later
run would read it, and two processes writing the same file must not interleave. So a
file is written under a temporary name in its own directory (the rename below stays on
one file system), flushed to disk, then renamed over the target, which POSIX makes
atomic; on any error the temporary file is removed and the target keeps its old
contents. The temporary name carries the process id and a random part, so concurrent
writers never share one; the file gets the permissions any file the user writes gets.
"""
import contextlib
import os
import secrets


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """``with atomic_open(path) as f: f.write(...)`` replaces ``path`` atomically when the
    block ends without error (``mode`` "wb" or "w")."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes whole files: mode 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                       f".{os.path.basename(path)}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
