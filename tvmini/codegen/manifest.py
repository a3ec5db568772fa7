"""Build manifests: what a build made, stored on disk under its memo key.

A manifest lets a later process serve an equal schedule without lowering it: the CPU
path stores its object code's cache key, argument specs and loop IR / LLVM IR texts
(measured on examples/mnist.py's CNN with a warm cache: 19 -> 2.8 ms a kernel), the CUDA
path its CUDA C and launch plan. The key also holds a digest of tvmini's own sources:
editing lowering or code generation must not serve a manifest written by other code.
Content is JSON, compressed; an unreadable manifest reads as absent (build anew).
"""
import functools
import hashlib
import json
import zlib
from pathlib import Path

from ..runtime import disk_cache

SUFFIX = ".manifest"


@functools.lru_cache(maxsize=None)
def source_digest():
    """sha256 of every Python source of the tvmini package (computed once, ~10 ms)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _key(memo_key):
    return disk_cache.make_key(repr(memo_key), source_digest(), "manifest")


def store(memo_key, content):
    """Write ``content`` (JSON-able) as the manifest of ``memo_key``."""
    disk_cache.store(_key(memo_key), zlib.compress(json.dumps(content).encode()), suffix=SUFFIX)


def load(memo_key):
    """The content stored for ``memo_key`` by these sources, or None."""
    data = disk_cache.load(_key(memo_key), suffix=SUFFIX)
    if data is None:
        return None
    try:
        return json.loads(zlib.decompress(data))
    except (zlib.error, ValueError):
        return None
