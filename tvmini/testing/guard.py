"""Guard-page arrays: make out-of-bounds kernel accesses crash loudly.

An off-by-one in generated code usually reads or writes a few bytes of some
other allocation and goes unnoticed. :func:`guarded_array` places an array
directly against a page mapped ``PROT_NONE``, so the first byte touched beyond
the array (``where="end"``) or before it (``where="start"``) raises SIGSEGV.

Because that kills the process, tests run the kernel in a child interpreter:
:func:`run_isolated` runs a code string there (with ``faulthandler`` on, so a
crash prints a traceback) and :func:`assert_no_fault` asserts it exited
cleanly. The memory comes from ``mmap`` and ``mprotect`` (Linux/POSIX, through
ctypes); the array's ``base`` chain holds the mapping, which stays valid for as
long as the array (or any view of it) is referenced.
"""

import ctypes
import mmap
import os
import signal
import subprocess
import sys

import numpy as np

_PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_libc.mprotect.restype = ctypes.c_int
_PROT_NONE = 0  # POSIX; Python's mmap module does not export it

# The directory holding the ``tvmini`` package, so child interpreters import it.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guarded_array(shape, dtype, fill=None, where="end"):
    """Return a C-contiguous numpy array that touches a PROT_NONE guard page.

    ``where="end"``: the array's last byte is the last byte before the guard
    page; ``where="start"``: its first byte is the first byte after it. Any
    access past that edge faults (SIGSEGV), so run code that may do so through
    :func:`run_isolated`. The contents are ``fill`` (broadcast) if given, else
    zeros. The array is aligned to its itemsize (itemsizes up to 8 bytes).
    """
    if where not in ("end", "start"):
        raise ValueError(f"where must be 'end' or 'start', got {where!r}")
    dtype = np.dtype(dtype)
    shape = tuple(shape) if np.iterable(shape) else (shape,)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    data_pages = -(-nbytes // _PAGE)
    mapping = mmap.mmap(-1, (data_pages + 1) * _PAGE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    raw = np.frombuffer(mapping, dtype=np.uint8)
    base = raw.ctypes.data
    if where == "end":
        guard, offset = base + data_pages * _PAGE, data_pages * _PAGE - nbytes
    else:
        guard, offset = base, _PAGE
    if _libc.mprotect(guard, _PAGE, _PROT_NONE) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mprotect failed: {os.strerror(errno)}")
    array = raw[offset:offset + nbytes].view(dtype).reshape(shape)
    if fill is not None:
        array[...] = fill
    return array


def run_isolated(code, timeout=60):
    """Run ``python -X faulthandler -c code`` in a child process and return its
    ``subprocess.CompletedProcess`` (text stdout/stderr captured).

    The child can import ``tvmini`` from this checkout. A negative
    ``returncode`` is the signal that killed it (``-signal.SIGSEGV`` for a
    guard-page hit).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_REPO_ROOT, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", code],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


def assert_no_fault(code, timeout=60):
    """Run ``code`` with :func:`run_isolated`, assert it exited with status 0
    (showing the signal, if any, stdout and stderr otherwise) and return the
    ``CompletedProcess``."""
    result = run_isolated(code, timeout)
    if result.returncode != 0:
        status = result.returncode
        if status < 0:
            status = f"{status} ({signal.Signals(-status).name})"
        raise AssertionError(
            f"child process exited with status {status}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result
