"""Deployed ``tm.jit`` inference: ``load_jit(path)`` returns a :class:`Predictor`.

``JitFunction.export(path)`` writes two files:

* the shared library ``path``: every kernel of the traced step (internal symbols, so
  no name can clash with another library) plus one exported entry,
  ``void tvmini_jit_run(void **inputs, void **outputs, char *params, char *workspace)``,
  which calls the kernels in order; each array is an input or output pointer, or an
  offset into the parameter blob or the workspace. A ``tvmini_metadata`` JSON symbol
  (``kind`` "jit") describes the inputs and outputs (names, shapes, dtypes), the result's
  structure, the workspace size and the parameter file (name, size, SHA-256);
* the parameter file beside it (``model.so`` -> ``model.params``): the step's parameters,
  running statistics and constants as one raw blob, each array at a 64-byte aligned
  offset listed in the metadata.

Loading needs neither the graph layer nor llvmlite: the library is opened with ctypes,
the blob read and checked against the metadata, and each prediction is one native call.
Inputs are checked first (count, type, dtype, shape, contiguity; an error names the
input); outputs are fresh :class:`NDArray` objects per call, returned in the structure
the traced function returned (one array, or tuples/lists/dicts of them). A predictor
owns one workspace, so it runs one call at a time (use one predictor per thread).
Shapes are the traced ones: export one function per batch size.
"""
import ctypes
import hashlib
import os

import numpy as np

from ..errors import ArgumentError, DataError, DeviceError, DTypeError, ShapeError
from . import ndarray as nd
from .export import open_library

#: Format of the "jit" library metadata and parameter blob this runtime reads and writes.
FORMAT = 1
#: The library's entry point.
ENTRY = "tvmini_jit_run"
#: Byte alignment of every array in the parameter blob (and of the workspace's arrays).
ALIGN = 64


def params_path(path):
    """The parameter file beside library ``path`` ("model.so" -> "model.params")."""
    return os.path.splitext(os.fspath(path))[0] + ".params"


def _build(node, arrays):
    """The result structure ``node`` (from the metadata) with output arrays at its leaves."""
    if node is None or isinstance(node, int):
        return None if node is None else arrays[node]
    (kind, items), = node.items()
    if kind == "dict":
        return {key: _build(item, arrays) for key, item in items}
    built = [_build(item, arrays) for item in items]
    return tuple(built) if kind == "tuple" else built


class _Spec:
    """One input or output of the predictor: name, shape, dtype."""

    __slots__ = ("name", "shape", "dtype")

    def __init__(self, entry):
        self.name, self.shape, self.dtype = entry["name"], tuple(entry["shape"]), np.dtype(entry["dtype"])

    def __repr__(self):
        return f"{self.name}: {self.dtype.name}{list(self.shape)}"


class Predictor:
    """An exported ``tm.jit`` inference function; call it with one array per input.

    ``predictor(*inputs)`` takes NDArrays (CPU) or numpy arrays (used in place, never
    written; C-contiguous, the exact dtype and shape of the trace) and returns fresh
    NDArrays. Attributes: ``name``, ``inputs`` and ``outputs`` (specs with ``name``,
    ``shape``, ``dtype``), ``workspace_bytes``, ``path``, ``params_path``.
    """

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        lib, meta = open_library(self.path, ("jit",))
        if meta.get("format") != FORMAT:
            raise DataError(f"{self.path} has jit library format {meta.get('format')}, this tvmini reads {FORMAT}")
        self.name = meta["name"]
        self.inputs = tuple(_Spec(e) for e in meta["inputs"])
        self.outputs = tuple(_Spec(e) for e in meta["outputs"])
        self._structure = meta["structure"]
        self.workspace_bytes = meta["workspace_bytes"]
        self.params_path = os.path.join(os.path.dirname(self.path), meta["params"]["file"])
        self._params = self._read_params(meta["params"])
        self._workspace = nd.empty((max(self.workspace_bytes, 1),), "uint8")
        self._entry = getattr(lib, ENTRY)
        self._entry.restype = None
        self._entry.argtypes = [ctypes.c_void_p] * 4
        self._in_ptrs = (ctypes.c_void_p * max(len(self.inputs), 1))()
        self._out_ptrs = (ctypes.c_void_p * max(len(self.outputs), 1))()
        self._lib = lib

    def _read_params(self, expect):
        """The parameter blob in a 64-byte aligned array, checked against the metadata."""
        path = self.params_path
        if not os.path.isfile(path):
            raise DataError(f"{self.path} needs its parameter file {path}, which does not exist")
        size = os.path.getsize(path)
        if size != expect["bytes"]:
            raise DataError(f"parameter file {path} has {size} bytes, {self.path} expects {expect['bytes']} "
                            f"({'truncated' if size < expect['bytes'] else 'not the file exported with it'})")
        blob = nd.empty((max(size, 1),), "uint8")
        view = blob._storage.host_view()
        with open(path, "rb") as f:
            got = f.readinto(memoryview(view)[:size])
        if got != size or hashlib.sha256(view[:size]).hexdigest() != expect["sha256"]:
            raise DataError(f"parameter file {path} is corrupt or was not exported with {self.path} "
                            "(its SHA-256 differs from the library's record)")
        return blob

    def __call__(self, *inputs):
        """Predict: check ``inputs``, run the step once, return its outputs."""
        if len(inputs) != len(self.inputs):
            raise ArgumentError(f"predictor {self.name!r} takes {len(self.inputs)} inputs "
                                f"({', '.join(s.name for s in self.inputs)}), got {len(inputs)}")
        in_ptrs = self._in_ptrs
        for k, (value, spec) in enumerate(zip(inputs, self.inputs)):
            in_ptrs[k] = self._pointer(value, spec)
        outputs = [nd.empty(s.shape, s.dtype) for s in self.outputs]
        out_ptrs = self._out_ptrs
        for k, array in enumerate(outputs):
            out_ptrs[k] = array._ptr
        self._entry(in_ptrs, out_ptrs, self._params._ptr, self._workspace._ptr)
        return _build(self._structure, outputs)

    def _pointer(self, value, spec):
        """The data pointer of input ``value`` after checking it against ``spec``."""
        where = f"predictor {self.name!r}: input {spec.name}"
        if isinstance(value, nd.NDArray):
            if value.device.kind != "cpu":
                raise DeviceError(f"{where} is on {value.device}; exported functions run on the CPU")
            dtype, shape, pointer = value.dtype, value.shape, value._ptr
        elif isinstance(value, np.ndarray):
            dtype, shape = value.dtype, value.shape
            if dtype == spec.dtype and not value.flags.c_contiguous:
                raise ShapeError(f"{where} is not C-contiguous; pass np.ascontiguousarray({spec.name})")
            pointer = nd.numpy_data_ptr(value)
            if dtype == spec.dtype and pointer % dtype.itemsize:
                raise ShapeError(f"{where} is not aligned to its {dtype.itemsize}-byte elements; "
                                 f"pass an aligned copy ({spec.name}.copy())")
        else:
            raise DTypeError(f"{where} must be an NDArray or a numpy.ndarray, got {type(value).__name__}")
        if np.dtype(dtype) != spec.dtype:
            raise DTypeError(f"{where} has dtype {np.dtype(dtype).name}, expected {spec.dtype.name}")
        if tuple(shape) != spec.shape:
            raise ShapeError(f"{where} has shape {tuple(shape)}, expected {spec.shape} (the traced shape)")
        return pointer

    def __repr__(self):
        return (f"Predictor({self.name!r}, inputs={list(self.inputs)}, outputs={list(self.outputs)}, "
                f"workspace={self.workspace_bytes} bytes)")


def load_jit(path):
    """Load a ``tm.jit`` inference function exported by ``JitFunction.export(path)``.

    Raises DataError naming the file when the library or its parameter file is missing,
    truncated, corrupt, or from another export."""
    return Predictor(path)
