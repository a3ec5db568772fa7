"""Command line: ``python -m tvmini cache info|clear`` manages the on-disk kernel cache.

The cache folder is ``$TVMINI_CACHE_DIR`` or ``~/.cache/tvmini`` (``TVMINI_CACHE=0``
turns the cache off); see ``tvmini.runtime.disk_cache``.
"""
import argparse
import sys

from .debug import format_bytes
from .runtime import disk_cache


def _summary(counts):
    """``(files, bytes, lines)`` of ``{suffix: (files, bytes)}``: the totals, and one line per kind of
    cache file with its label and suffix."""
    lines = [f"  {disk_cache.KINDS[suffix]} (*{suffix}): {files} files, {format_bytes(size)}"
             for suffix, (files, size) in counts.items()]
    return sum(n for n, _ in counts.values()), sum(b for _, b in counts.values()), "\n".join(lines)


def _cache_info():
    root = disk_cache.cache_dir()
    if root is None:
        print("disk cache: off (TVMINI_CACHE=0)")
        return
    files, size, kinds = _summary(disk_cache.usage())
    print(f"disk cache: {root}")
    print(f"entries: {files} files, {format_bytes(size)} ({size} bytes)")
    print(kinds)


def _cache_clear():
    root = disk_cache.cache_dir()
    if root is None:
        print("disk cache: off (TVMINI_CACHE=0); nothing to clear")
        return
    files, size, kinds = _summary(disk_cache.clear())
    print(f"removed {files} files ({format_bytes(size)}) from {root}")
    print(kinds)


def main(argv=None):
    """Parse ``argv`` (default: the process's arguments) and run the command."""
    parser = argparse.ArgumentParser(prog="python -m tvmini", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cache = commands.add_parser("cache", help="manage the on-disk kernel cache")
    cache.add_argument("action", choices=["info", "clear"],
                       help="info: folder, files and bytes of each kind (object code, build manifests, emulated CUDA "
                            "modules); clear: delete them all")
    args = parser.parse_args(argv)
    {"info": _cache_info, "clear": _cache_clear}[args.action]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
