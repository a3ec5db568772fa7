"""The on-disk kernel cache: compiled object code keyed by a hash of what produced it.

An entry is one file ``<key>.o`` (object code; ``<key>.manifest`` for a build manifest,
see ``codegen.build``) holding a header (magic, payload length, sha256 of the key,
suffix and payload) followed by the payload (``<key>.emulated``: a CUDA module built for the
emulator, ``runtime.cuda_emulator``). A truncated or corrupted entry fails the check, is
deleted and reported as a miss, so it is rebuilt and never loaded blindly; so is an
intact entry found under another key (a file copied or renamed within the folder, or
merged from another one), which would load as the wrong kernel. Writers
write to a temporary file in the same folder and rename it into place, so concurrent
processes never see half an entry.

The folder is ``$TVMINI_CACHE_DIR`` or ``~/.cache/tvmini``; ``TVMINI_CACHE=0`` turns
the cache off. ``info``, ``usage`` and ``clear`` (``python -m tvmini cache info|clear``)
cover the three kinds of file in ``KINDS``, nothing else in the folder.
"""
import hashlib
import os
import struct
from pathlib import Path

from ..fileio import atomic_open

MAGIC = b"TVMINI-OBJ-2\n"      # 2: the digest covers the key and suffix too
_HEADER = struct.Struct("<Q32s")

#: The cache's files by suffix, with the labels ``python -m tvmini cache info`` prints.
KINDS = {".o": "object code and PTX", ".manifest": "build manifests", ".emulated": "emulated CUDA modules"}


def cache_dir():
    """The cache folder, or None when the cache is turned off."""
    if os.environ.get("TVMINI_CACHE", "1").strip() in ("0", "false", "off", "no"):
        return None
    root = os.environ.get("TVMINI_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tvmini")
    return Path(root)


def make_key(*parts):
    """A hex key from strings (IR text, target description, versions)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def load(key, suffix=".o"):
    """The payload stored under ``key``, or None (missing, unreadable or corrupt)."""
    root = cache_dir()
    if root is None:
        return None
    path = root / f"{key}{suffix}"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(MAGIC) + _HEADER.size
    if len(data) >= head and data.startswith(MAGIC):
        length, digest = _HEADER.unpack_from(data, len(MAGIC))
        payload = data[head:]
        if len(payload) == length and _digest(key, suffix, payload) == digest:
            return payload
    try:
        path.unlink()
    except OSError:
        pass
    return None


def _digest(key, suffix, payload):
    """The sha256 an entry's header holds: of its key, suffix and payload."""
    return hashlib.sha256(f"{key}{suffix}\0".encode() + payload).digest()


def store(key, payload, suffix=".o"):
    """Write ``payload`` under ``key`` atomically; failures to write are ignored."""
    root = cache_dir()
    if root is None:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        with atomic_open(root / f"{key}{suffix}") as f:
            f.write(MAGIC + _HEADER.pack(len(payload), _digest(key, suffix, payload)) + payload)
    except OSError:
        pass


def _files(root, suffix):
    """The cache files of one kind (with their sizes; a file deleted meanwhile is left out)."""
    for path in root.glob("*" + suffix):
        try:
            yield path, path.stat().st_size
        except OSError:
            pass


def usage():
    """``{suffix: (files, bytes)}`` for each kind of ``KINDS`` in the cache folder."""
    root = cache_dir()
    counts = dict.fromkeys(KINDS, (0, 0))
    if root is not None and root.is_dir():
        for suffix in KINDS:
            sizes = [size for _, size in _files(root, suffix)]
            counts[suffix] = (len(sizes), sum(sizes))
    return counts


def info():
    """(files, bytes) in the cache folder, every kind of ``KINDS`` together: what ``clear`` deletes."""
    counts = usage().values()
    return sum(files for files, _ in counts), sum(size for _, size in counts)


def clear():
    """Delete every file of ``KINDS`` (object code, build manifests, emulated CUDA modules);
    returns ``{suffix: (files, bytes)}`` removed."""
    root = cache_dir()
    removed = dict.fromkeys(KINDS, (0, 0))
    if root is not None and root.is_dir():
        for suffix in KINDS:
            files = size = 0
            for path, bytes_ in _files(root, suffix):
                path.unlink(missing_ok=True)
                files, size = files + 1, size + bytes_
            removed[suffix] = (files, size)
    return removed
