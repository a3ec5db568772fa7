"""CUDA driver glue: device memory for ``NDArray`` and kernel launches, through pycuda.

pycuda is imported only when a CUDA device is actually used (``import tvmini`` never
needs it). A missing pycuda, a missing driver or no GPU gives one ``DeviceError`` that
says which, and how to get it (``pip install tvmini[cuda]``).
"""
import functools

import numpy as np

from ..errors import DeviceError


@functools.lru_cache(maxsize=None)
def driver():
    """``pycuda.driver`` with a context on device 0 made current (once per process)."""
    try:
        import pycuda.driver as drv
    except ImportError as err:
        raise DeviceError("CUDA needs pycuda, which is not installed: pip install 'tvmini[cuda]' on a machine "
                          f"with the CUDA toolkit and an NVIDIA driver ({err})") from None
    try:
        drv.init()
        if drv.Device.count() == 0:
            raise DeviceError("pycuda found no CUDA device on this machine")
        context = drv.Device(0).retain_primary_context()
        context.push()
    except drv.Error as err:
        raise DeviceError(f"the CUDA driver failed to start: {err}") from None
    return drv


def device_arch():
    """``sm_XY`` of device 0, or None when no CUDA device can be used here."""
    try:
        drv = driver()
    except DeviceError:
        return None
    major, minor = drv.Device(0).compute_capability()
    return f"sm_{major}{minor}"


class CudaStorage:
    """Device memory for an NDArray (the storage protocol of ``runtime.ndarray``)."""

    __slots__ = ("allocation", "ptr", "shape", "dtype")

    def __init__(self, shape, dtype, device):
        drv = driver()
        if device.index != 0:
            raise DeviceError(f"tvmini uses CUDA device 0 only, not {device}")
        self.shape, self.dtype = shape, dtype
        self.allocation = drv.mem_alloc(max(1, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize))
        self.ptr = int(self.allocation)

    def host_view(self):
        """A host copy of the data."""
        out = np.empty(self.shape, self.dtype)
        if out.size:
            driver().memcpy_dtoh(out, self.ptr)
        return out

    def from_numpy(self, arr):
        data = np.ascontiguousarray(np.broadcast_to(np.asarray(arr).astype(self.dtype, copy=False), self.shape))
        if data.size:
            driver().memcpy_htod(self.ptr, data)


_SCALAR_TYPES = {"int32": np.int32, "int64": np.int64, "float32": np.float32, "float64": np.float64}


class Launcher:
    """Launches a built module's kernels in order; called by ``Module`` with checked arguments
    (buffer pointers, symbolic extents, scalars — the native argument order)."""

    def __init__(self, name, source, ptx, launches, n_buffers, slot_types, extent_names, temp_sizes):
        self.name, self.source, self.ptx, self.n_buffers = name, source, ptx, n_buffers
        self.launches, self.slot_types = launches, slot_types
        self.extent_names, self.temp_sizes = extent_names, temp_sizes
        self._functions = None
        self._temps = {}

    def _load(self):
        drv = driver()
        if self.ptx is not None:
            module = drv.module_from_buffer(self.ptx.encode())
        else:
            from pycuda.compiler import SourceModule
            module = SourceModule(self.source, no_extern_c=True)
        self._module = module
        self._functions = [module.get_function(launch.name) for launch in self.launches]

    def _temporaries(self, values):
        drv = driver()
        out = []
        for k, (size, dtype) in enumerate(self.temp_sizes):
            nbytes = max(1, size(values)) * np.dtype(dtype).itemsize
            held = self._temps.get(k)
            if held is None or held[0] < nbytes:
                held = self._temps[k] = (nbytes, drv.mem_alloc(nbytes))
            out.append(int(held[1]))
        return out

    def __call__(self, *cargs):
        if self._functions is None:
            self._load()
        values = dict(zip(self.extent_names, cargs[self.n_buffers:]))
        slots = list(cargs) + self._temporaries(values)
        typed = [np.uintp(x) if t == "ptr" else _SCALAR_TYPES[t](x) for x, t in zip(slots, self.slot_types)]
        for function, launch in zip(self._functions, self.launches):
            grid = tuple(max(1, int(g(values))) for g in launch.grid)
            function(*[typed[i] for i in launch.slots], block=launch.block, grid=grid)
