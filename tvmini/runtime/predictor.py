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
A step traced on a CUDA device is exported as data instead of a native entry: the
metadata lists each kernel's ``CudaProgram`` and PTX, and the calls in order with their
arrays as offsets into the inputs, outputs, parameters or workspace; the predictor
copies the parameters to the device and launches the calls (no CUDA compiler needed).
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
from .device import as_device
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

    ``predictor(*inputs)`` takes NDArrays on the step's device or numpy arrays (never
    written; C-contiguous, the exact dtype and shape of the trace; on the CPU used in
    place, for a CUDA step copied to the device) and returns fresh NDArrays on the
    step's device. Attributes: ``name``, ``device``, ``inputs`` and ``outputs`` (specs
    with ``name``, ``shape``, ``dtype``), ``workspace_bytes``, ``path``, ``params_path``.
    """

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        lib, meta = open_library(self.path, ("jit",))
        if meta.get("format") != FORMAT:
            raise DataError(f"{self.path} has jit library format {meta.get('format')}, this tvmini reads {FORMAT}")
        self.name = meta["name"]
        self.device = as_device(meta.get("device", "cpu"))
        self.inputs = tuple(_Spec(e) for e in meta["inputs"])
        self.outputs = tuple(_Spec(e) for e in meta["outputs"])
        self._structure = meta["structure"]
        self.workspace_bytes = meta["workspace_bytes"]
        self.params_path = os.path.join(os.path.dirname(self.path), meta["params"]["file"])
        self._params = self._read_params(meta["params"])
        if self.device.kind == "cuda":
            self._params = self._params.copyto(self.device)
        self._workspace = nd.empty((max(self.workspace_bytes, 1),), "uint8", self.device)
        if self.device.kind == "cuda":
            self._run = _CudaCalls(meta, self._params._ptr, self._workspace._ptr)
        else:
            self._run = _NativeEntry(getattr(lib, ENTRY), len(self.inputs), len(self.outputs), self._params._ptr,
                                     self._workspace._ptr)
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
        held = [self._on_device(value, spec) for value, spec in zip(inputs, self.inputs)]
        outputs = [nd.empty(s.shape, s.dtype, self.device) for s in self.outputs]
        self._run([pointer for pointer, _ in held], [array._ptr for array in outputs])
        return _build(self._structure, outputs)

    def _on_device(self, value, spec):
        """(data pointer, array to keep alive meanwhile) of input ``value`` on the step's
        device, after checking it against ``spec``."""
        where = f"predictor {self.name!r}: input {spec.name}"
        if isinstance(value, nd.NDArray):
            if value.device != self.device:
                raise DeviceError(f"{where} is on {value.device}; the exported step runs on {self.device}")
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
        if isinstance(value, np.ndarray) and self.device.kind != "cpu":
            value = nd.array(value, device=self.device)
            pointer = value._ptr
        return pointer, value

    def __repr__(self):
        return (f"Predictor({self.name!r}, inputs={list(self.inputs)}, outputs={list(self.outputs)}, "
                f"workspace={self.workspace_bytes} bytes)")


class _NativeEntry:
    """A CPU step: the library's ``tvmini_jit_run``, called with pointer arrays."""

    def __init__(self, entry, n_inputs, n_outputs, params, workspace):
        entry.restype, entry.argtypes = None, [ctypes.c_void_p] * 4
        self._entry, self._params, self._workspace = entry, params, workspace
        self._ins = (ctypes.c_void_p * max(n_inputs, 1))()
        self._outs = (ctypes.c_void_p * max(n_outputs, 1))()

    def __call__(self, inputs, outputs):
        self._ins[:len(inputs)], self._outs[:len(outputs)] = inputs, outputs
        self._entry(self._ins, self._outs, self._params, self._workspace)


class _CudaCalls:
    """A CUDA step: its kernels' launchers (from each ``CudaProgram`` and its PTX; no
    compiler needed) and its calls in order, each array an input, an output, or an
    offset into the parameters or the workspace on the device."""

    def __init__(self, meta, params, workspace):
        from .cuda_program import CudaProgram
        self._launchers = [CudaProgram.from_json(k["program"]).launcher(k["name"], lambda ptx=k["ptx"]: ptx)
                           for k in meta["kernels"]]
        self._calls, self._params, self._workspace = meta["calls"], params, workspace

    def __call__(self, inputs, outputs):
        from .cuda_driver import driver
        bases = {"input": inputs, "output": outputs, "params": [self._params], "workspace": [self._workspace]}
        for call in self._calls:
            if "copy" in call:
                dst, src = [bases[base][k] + offset for base, k, offset in call["copy"]]
                driver().dtod(dst, src, call["bytes"])
            else:
                self._launchers[call["kernel"]](*[bases[base][k] + offset for base, k, offset in call["args"]],
                                                *call["scalars"])


def load_jit(path):
    """Load a ``tm.jit`` inference function exported by ``JitFunction.export(path)``.

    Raises DataError naming the file when the library or its parameter file is missing,
    truncated, corrupt, or from another export."""
    return Predictor(path)
