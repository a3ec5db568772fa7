"""tm.save / tm.load: checkpoints (state dicts) as .npz files, never pickle.

A checkpoint is a tree of dicts, lists and tuples whose leaves are tensors, numpy
arrays, numbers, strings, booleans or None (a module's or an optimizer's state dict,
nested in a dict of your own). ``save`` stores every array as one ``.npy`` member of
the archive and the tree as JSON in a ``__tvmini_manifest__`` member; ``load`` reads it
back with ``allow_pickle=False``, so loading a file can never run code.

Writes go to a temporary file in the same directory, are flushed to disk and then
renamed over ``path``: a crash leaves either the old checkpoint or the new one, never
half of one. A truncated or corrupt file raises :class:`~tvmini.errors.DataError`.
"""
import json
import os
import zipfile
import zlib

import numpy as np

from .errors import DataError, TVMiniError
from .fileio import atomic_open
from .graph import Tensor
from .runtime import ndarray as nd

_MANIFEST = "__tvmini_manifest__"
_FORMAT = 1


def _encode(obj, arrays, where):
    """The JSON node for ``obj``; arrays are appended to ``arrays``."""
    if isinstance(obj, (Tensor, np.ndarray, nd.NDArray)):
        kind = "tensor" if isinstance(obj, Tensor) else "ndarray"
        array = obj.numpy() if not isinstance(obj, np.ndarray) else obj
        if array.dtype.hasobject:
            raise TVMiniError(f"tm.save: {where} is an object array; only numeric arrays can be saved")
        arrays.append(np.array(array, order="C", copy=True))
        return {"type": kind, "ref": f"a{len(arrays) - 1}"}
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TVMiniError(f"tm.save: dict keys must be str or int, got {key!r} in {where}")
            items.append([key, "int" if isinstance(key, int) else "str", _encode(value, arrays, f"{where}[{key!r}]")])
        return {"type": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        return {"type": type(obj).__name__,
                "items": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"type": "value", "value": obj}
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return {"type": "value", "value": obj.item()}
    raise TVMiniError(f"tm.save: cannot save {type(obj).__name__} at {where}; checkpoints hold tensors, arrays, "
                      "numbers, strings, None and dicts/lists/tuples of them")


def save(obj, path):
    """Write ``obj`` (a state dict or a tree of them) to ``path`` as an .npz archive,
    atomically; or, as PyTorch takes, into a binary file object opened for writing
    (``io.BytesIO``), at its current position."""
    arrays = []
    manifest = {"format": _FORMAT, "root": _encode(obj, arrays, "obj")}
    members = {f"a{i}": a for i, a in enumerate(arrays)}
    members[_MANIFEST] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    if hasattr(path, "write"):
        np.savez(path, **members)
        return
    with atomic_open(path) as f:
        np.savez(f, **members)


def _decode(node, arrays, device, path):
    kind = node["type"]
    if kind in ("tensor", "ndarray"):
        array = arrays[node["ref"]]
        return Tensor(nd.array(array, device=device)) if kind == "tensor" else array
    if kind == "dict":
        return {(int(k) if kt == "int" else k): _decode(v, arrays, device, path) for k, kt, v in node["items"]}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays, device, path) for v in node["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "value":
        return node["value"]
    raise DataError(f"tm.load: {path} has an unknown entry type {kind!r}")


def load(path, device=None, *, map_location=None, weights_only=True):
    """Read a checkpoint written by :func:`save` from a path or a binary file object
    (``io.BytesIO``); tensors are placed on ``device`` (CPU by default).

    PyTorch's keywords are taken: ``map_location`` (a device or device string) is
    ``device``; ``weights_only`` may be True or False alike, since a checkpoint never
    holds code (no pickle). Raises DataError for a missing, truncated or corrupt file
    (naming the path).
    """
    if map_location is not None:
        if device is not None or callable(map_location) or isinstance(map_location, dict):
            raise DataError("tm.load: map_location is a device or device string (not a function or dict), and "
                            "the same as device=; give one of them")
        device = map_location
    source = path if hasattr(path, "read") else os.fspath(path)
    if source is path:
        path = f"the {type(source).__name__} file object"
    elif not os.path.exists(path):
        raise DataError(f"tm.load: no checkpoint at {path}")
    try:
        with np.load(source, allow_pickle=False) as archive:
            if _MANIFEST not in archive.files:
                raise DataError(f"tm.load: {path} is not a tvmini checkpoint (no manifest)")
            manifest = json.loads(archive[_MANIFEST].tobytes().decode())
            arrays = {name: archive[name] for name in archive.files if name != _MANIFEST}
        if manifest.get("format") != _FORMAT:
            raise DataError(f"tm.load: {path} has checkpoint format {manifest.get('format')!r}, "
                            f"expected {_FORMAT}")
        return _decode(manifest["root"], arrays, device, path)
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, TypeError,
            UnicodeDecodeError) as err:
        raise DataError(f"tm.load: {path} is truncated or corrupt ({type(err).__name__}: {err})") from None
