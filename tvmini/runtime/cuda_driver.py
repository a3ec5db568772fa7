"""CUDA driver glue: device memory for ``NDArray`` (from a caching pool, see
``cuda_memory``), kernel launches and their timing.

The driver is reached through one of two Python bindings (``runtime.cuda_bindings``):
pycuda (``pip install 'tvmini[cuda]'``) or NVIDIA's cuda-bindings; the first that
imports is used, and ``TVMINI_CUDA_BINDING=pycuda`` (or ``cuda-bindings``) picks one.
``TVMINI_CUDA_BINDING=emulator`` runs CUDA kernels on the CPU instead (``cuda_emulator``).
Neither is imported until a CUDA device is actually used (``import tvmini`` never
needs them). No binding, no driver or no GPU gives one ``DeviceError`` that says which.
"""
import functools
import math
import os
import weakref

import numpy as np

from ..errors import DeviceError
from .cuda_bindings import AUTOMATIC, BINDINGS
from .cuda_memory import DevicePool

BINDING_VARIABLE = "TVMINI_CUDA_BINDING"
#: The most blocks a launch may have along x, y and z.
GRID_LIMITS = (2 ** 31 - 1, 65535, 65535)
#: The most sets of extents a launcher keeps prepared launches for.
PREPARED_MAX = 64


@functools.lru_cache(maxsize=None)
def driver():
    """The binding in use, with a context on device 0 current (made once per process)."""
    forced = os.environ.get(BINDING_VARIABLE)
    if forced and forced not in BINDINGS:
        raise DeviceError(f"{BINDING_VARIABLE}={forced!r}: expected one of {', '.join(BINDINGS)}")
    missing = []
    for name in [forced] if forced else AUTOMATIC:
        try:
            return BINDINGS[name]()
        except ImportError as err:
            missing.append(f"{name}: {err}")
    raise DeviceError("CUDA needs pycuda or NVIDIA's cuda-bindings, and neither imports here ("
                      + "; ".join(missing) + "): pip install 'tvmini[cuda]' on a machine with the CUDA "
                      "toolkit and an NVIDIA driver, or pip install cuda-bindings")


_POOLS = weakref.WeakKeyDictionary()     # binding -> its DevicePool


def memory_pool():
    """The :class:`~.cuda_memory.DevicePool` every CUDA array of the binding in use
    takes its memory from."""
    drv = driver()
    pool = _POOLS.get(drv)
    if pool is None:
        pool = _POOLS[drv] = DevicePool(drv)
    return pool


def memory_stats():
    """``{"in_use_bytes", "cached_bytes", "driver_allocations"}`` of device 0: bytes lent
    to live arrays, bytes kept for reuse, and how many blocks were asked of the driver."""
    return memory_pool().stats()


def empty_cache():
    """Give the device memory no array uses back to the driver (as
    ``torch.cuda.empty_cache``), e.g. for another process on the same GPU."""
    memory_pool().empty()


def device_arch():
    """``sm_XY`` of device 0, or None when no CUDA device can be used here."""
    try:
        major, minor = driver().compute_capability()
    except DeviceError:
        return None
    return f"sm_{major}{minor}"


class CudaStorage:
    """Device memory for an NDArray (the storage protocol of ``runtime.ndarray``)."""

    __slots__ = ("allocation", "ptr", "shape", "dtype", "nbytes")

    def __init__(self, shape, dtype, device):
        if device.index != 0:
            raise DeviceError(f"tvmini uses CUDA device 0 only, not {device}")
        self.shape, self.dtype = shape, dtype
        self.nbytes = math.prod(shape) * dtype.itemsize
        self.allocation, self.ptr = memory_pool().alloc(self.nbytes)

    def view(self, offset, shape, dtype):
        """The storage of ``shape``/``dtype`` over this one's memory from byte ``offset``
        (the caller checked it fits); it keeps the memory alive."""
        out = CudaStorage.__new__(CudaStorage)
        out.allocation, out.ptr, out.shape, out.dtype = self.allocation, self.ptr + offset, shape, dtype
        out.nbytes = math.prod(shape) * dtype.itemsize
        return out

    def host_view(self):
        """A host copy of the data."""
        out = np.empty(self.shape, self.dtype)
        if out.size:
            driver().dtoh(out, self.ptr)
        return out

    def from_numpy(self, arr):
        data = np.ascontiguousarray(np.broadcast_to(np.asarray(arr).astype(self.dtype, copy=False), self.shape))
        if data.size:
            driver().htod(self.ptr, data)

    def copy_from(self, other):
        """Copy another storage of the same size in: device to device when it is a
        ``CudaStorage``, else from its host view."""
        if not isinstance(other, CudaStorage):
            self.from_numpy(other.host_view())
        elif self.nbytes:
            driver().dtod(self.ptr, other.ptr, self.nbytes)


class CudaStopwatch:
    """Device time of the work queued between :meth:`start` and :meth:`stop` (CUDA
    events on the default stream): kernel launches return before the kernels finish, so
    host clocks would time the launches only."""

    def __init__(self):
        drv = driver()
        self._driver, self._start, self._end = drv, drv.event(), drv.event()

    def start(self):
        self._driver.record(self._start)

    def stop(self):
        """Seconds since :meth:`start`, once the queued work is done."""
        self._driver.record(self._end)
        return self._driver.elapsed_seconds(self._start, self._end)


class Launcher:
    """Launches a built module's kernels in order; called by ``Module`` with checked arguments
    (buffer pointers, symbolic extents, scalars — the native argument order)."""

    def __init__(self, name, program, ptx):
        """``program`` is the module's ``runtime.cuda_program.CudaProgram`` (its CUDA C and
        launch plan); ``ptx()`` gives its PTX (compiled on first call when the build had
        no compiler)."""
        self.name, self.program, self.source, self.ptx = name, program, program.source, ptx
        self.n_buffers, self.extent_names = program.n_buffers, program.extent_names
        self.launches, self.temp_sizes = program.kernel_launches(), program.temporary_sizes()
        self._types = [[program.slot_types[i] for i in launch.slots] for launch in self.launches]
        self._loaded_by = self._functions = None
        self._temps, self._prepared = {}, {}

    def _load(self, drv):
        """Load the kernels through binding ``drv`` (again when the binding in use
        changed, as tests switching between a GPU and the emulator do: functions and
        temporaries of one binding mean nothing to another)."""
        self._module = drv.load(self.ptx, self.source)
        self._functions = [drv.function(self._module, launch.name) for launch in self.launches]
        self._loaded_by, self._temps, self._prepared = drv, {}, {}

    def _temporaries(self, values):
        out = []
        for k, (size, dtype) in enumerate(self.temp_sizes):
            nbytes = max(1, size(values)) * np.dtype(dtype).itemsize
            held = self._temps.get(k)
            if held is None or held[0] < nbytes:
                held = self._temps[k] = (nbytes, *self._loaded_by.alloc(nbytes))
                self._prepared.clear()      # they hold the addresses of the temporaries replaced
            out.append(held[2])
        return out

    def prepare(self, extents):
        """The launches of a call with symbolic extents ``extents`` ({name: value}) through
        the binding in use, grids checked: ``(temporaries, [(function, grid, block, slots,
        types)])``, where ``slots`` index the call's native arguments followed by the
        ``temporaries``' addresses (held by the launcher between calls). Kept per extents:
        a graph kernel, whose shapes are constant, prepares once."""
        drv = driver()
        if self._loaded_by is not drv:
            self._load(drv)
        key = tuple(extents.values())
        prepared = self._prepared.get(key)
        if prepared is None:
            if len(self._prepared) >= PREPARED_MAX:
                self._prepared.clear()
            prepared = self._prepared[key] = self._prepare(extents)
        return prepared

    def _prepare(self, extents):
        """The launches for ``extents``: a kernel whose grid or block is empty along some
        axis (an extent bound to 0) has no threads to run and is left out, as CUDA
        rejects a dimension of 0."""
        grids = [tuple(int(g(extents)) for g in launch.grid) for launch in self.launches]
        for grid, launch in zip(grids, self.launches):      # all checked before any kernel runs
            if any(g > limit for g, limit in zip(grid, GRID_LIMITS)):
                raise DeviceError(f"kernel {launch.name} needs a grid of {grid} blocks for extents {extents}; "
                                  f"CUDA allows at most {GRID_LIMITS}")
        return self._temporaries(extents), [(function, grid, launch.block, launch.slots, types) for
                                            function, launch, types, grid in
                                            zip(self._functions, self.launches, self._types, grids)
                                            if min(grid) > 0 and min(launch.block) > 0]

    def __call__(self, *cargs):
        temporaries, launches = self.prepare(dict(zip(self.extent_names, cargs[self.n_buffers:])))
        slots = list(cargs) + temporaries
        launch = self._loaded_by.launch
        for function, grid, block, at, types in launches:
            launch(function, grid, block, [slots[i] for i in at], types)

    @staticmethod
    def synchronize():
        """Wait for every kernel queued on the device (profilers time calls with it)."""
        driver().synchronize()

    @staticmethod
    def stopwatch():
        """A :class:`CudaStopwatch` for ``time_evaluator``."""
        return CudaStopwatch()
