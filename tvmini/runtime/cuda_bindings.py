"""The two Python bindings of the CUDA driver API that tvmini can launch kernels through.

``runtime.cuda_driver`` needs a handful of driver calls: a context on device 0, device
memory and copies, loading a module, launching a kernel, events for timing. Each class
here provides exactly those, over one binding:

- :class:`PyCuda` — pycuda (``pip install 'tvmini[cuda]'``), the launcher documented
  for users;
- :class:`CudaPython` — NVIDIA's cuda-bindings (``cuda.bindings.driver``, from
  ``pip install cuda-bindings``), which ships as wheels where pycuda needs a build
  against the toolkit and a driver;
- ``emulator`` (``runtime.cuda_emulator``): no GPU at all, the kernels' CUDA C run on
  the CPU, chosen only by name (``TVMINI_CUDA_BINDING=emulator``).

Both take plain ints for device pointers and the native argument order of a built
kernel (``Launcher``'s slots), so the rest of the runtime never sees which one runs.
A failing driver call raises :class:`~tvmini.errors.DeviceError` naming the call and
the driver's error.
"""
import numpy as np

from ..errors import DeviceError

#: numpy type of a kernel argument slot ("ptr": a device address).
SLOT_DTYPES = {"ptr": np.uint64, "int32": np.int32, "int64": np.int64, "float32": np.float32,
               "float64": np.float64}


def pack_params(values, types):
    """The ``void **kernelParams`` array of a launch: ``(holder, pointers)`` where
    ``holder`` keeps each value in its own 8-byte slot, typed by ``types`` (see
    :data:`SLOT_DTYPES`), and ``pointers`` holds the slots' addresses. Both must stay
    alive until the launch call returns."""
    holder = np.zeros(len(values), np.uint64)
    for i, (value, kind) in enumerate(zip(values, types)):
        holder[i:i + 1].view(SLOT_DTYPES[kind])[0] = value     # little-endian: the slot's first bytes
    pointers = holder.ctypes.data + 8 * np.arange(len(values), dtype=np.uint64)
    return holder, pointers


class PyCuda:
    """The driver through pycuda; its ``DeviceAllocation`` frees itself when collected."""

    name = "pycuda"

    def __init__(self):
        import pycuda.driver as drv     # ImportError: the caller tries the next binding
        self.drv = drv
        try:
            drv.init()
            if drv.Device.count() == 0:
                raise DeviceError("pycuda found no CUDA device on this machine")
            self.context = drv.Device(0).retain_primary_context()
            self.context.push()
        except drv.Error as err:
            raise DeviceError(f"the CUDA driver failed to start (pycuda): {err}") from None

    def compute_capability(self):
        return self.drv.Device(0).compute_capability()

    def alloc(self, nbytes):
        """(owner, address): the memory lives as long as ``owner``."""
        try:
            allocation = self.drv.mem_alloc(nbytes)
        except self.drv.Error as err:
            raise DeviceError(f"CUDA driver call cuMemAlloc({nbytes}) failed: {err}") from None
        return allocation, int(allocation)

    def htod(self, ptr, host):
        self.drv.memcpy_htod(ptr, host)

    def dtoh(self, host, ptr):
        self.drv.memcpy_dtoh(host, ptr)

    def dtod(self, dst, src, nbytes):
        self.drv.memcpy_dtod(dst, src, nbytes)

    def load(self, ptx, source):
        """The module of ``ptx()`` (the CUDA C ``source`` is for bindings that compile it)."""
        return self.drv.module_from_buffer(ptx().encode())

    def function(self, module, name):
        return module.get_function(name)

    def launch(self, function, grid, block, values, types):
        function(*[SLOT_DTYPES[t](v) for v, t in zip(values, types)], block=block, grid=grid)

    def event(self):
        return self.drv.Event()

    def record(self, event):
        event.record()

    def elapsed_seconds(self, start, end):
        """Seconds from ``start`` to ``end`` on the device, waiting for ``end``."""
        end.synchronize()
        return start.time_till(end) * 1e-3

    def synchronize(self):
        self.drv.Context.synchronize()


class _Allocation:
    """Device memory from ``cuMemAlloc``, freed with the object."""

    __slots__ = ("cu", "ptr")

    def __init__(self, cu, ptr):
        self.cu, self.ptr = cu, ptr

    def __del__(self):
        # at interpreter exit the bindings' module may be torn down first (its
        # functions set to None); the driver frees the context's memory then anyway
        free = getattr(self.cu, "cuMemFree", None)
        if callable(free):
            free(self.ptr)


class CudaPython:
    """The driver through NVIDIA's cuda-bindings."""

    name = "cuda-bindings"

    def __init__(self):
        from cuda.bindings import driver as cu     # ImportError: the caller tries the next binding
        self.cu = cu
        try:
            self._check(cu.cuInit(0), "cuInit")
            if self._check(cu.cuDeviceGetCount(), "cuDeviceGetCount") == 0:
                raise DeviceError("cuda-bindings found no CUDA device on this machine")
            self.device = self._check(cu.cuDeviceGet(0), "cuDeviceGet")
            self.context = self._check(cu.cuDevicePrimaryCtxRetain(self.device), "cuDevicePrimaryCtxRetain")
            self._check(cu.cuCtxSetCurrent(self.context), "cuCtxSetCurrent")
        except DeviceError:
            raise
        except Exception as err:      # no libcuda.so: cuda.pathfinder's own exception types
            raise DeviceError(f"the CUDA driver failed to start (cuda-bindings): {err}") from None

    def _check(self, result, call):
        """The values a cuda-bindings call returned after its status; DeviceError unless success."""
        status, *values = result
        if status != self.cu.CUresult.CUDA_SUCCESS:
            _, name = self.cu.cuGetErrorName(status)
            raise DeviceError(f"CUDA driver call {call} failed: {name.decode() if name else status}")
        return values[0] if len(values) == 1 else tuple(values)

    def compute_capability(self):
        attribute = self.cu.CUdevice_attribute
        return tuple(self._check(self.cu.cuDeviceGetAttribute(a, self.device), "cuDeviceGetAttribute")
                     for a in (attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                               attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR))

    def alloc(self, nbytes):
        ptr = int(self._check(self.cu.cuMemAlloc(nbytes), "cuMemAlloc"))
        owner = _Allocation(self.cu, ptr)
        return owner, ptr

    def htod(self, ptr, host):
        self._check(self.cu.cuMemcpyHtoD(ptr, host.ctypes.data, host.nbytes), "cuMemcpyHtoD")

    def dtoh(self, host, ptr):
        self._check(self.cu.cuMemcpyDtoH(host.ctypes.data, ptr, host.nbytes), "cuMemcpyDtoH")

    def dtod(self, dst, src, nbytes):
        self._check(self.cu.cuMemcpyDtoD(dst, src, nbytes), "cuMemcpyDtoD")

    def load(self, ptx, source):
        """The module of ``ptx()`` (the CUDA C ``source`` is for bindings that compile it)."""
        return self._check(self.cu.cuModuleLoadData(ptx().encode() + b"\0"), "cuModuleLoadData")

    def function(self, module, name):
        return self._check(self.cu.cuModuleGetFunction(module, name.encode()), "cuModuleGetFunction")

    def launch(self, function, grid, block, values, types):
        _values, pointers = pack_params(values, types)   # alive until the driver has copied them, in the call
        self._check(self.cu.cuLaunchKernel(function, *grid, *block, 0, 0, pointers.ctypes.data, 0), "cuLaunchKernel")

    def event(self):
        return self._check(self.cu.cuEventCreate(0), "cuEventCreate")

    def record(self, event):
        self._check(self.cu.cuEventRecord(event, 0), "cuEventRecord")

    def elapsed_seconds(self, start, end):
        """Seconds from ``start`` to ``end`` on the device, waiting for ``end``."""
        self._check(self.cu.cuEventSynchronize(end), "cuEventSynchronize")
        return self._check(self.cu.cuEventElapsedTime(start, end), "cuEventElapsedTime") * 1e-3

    def synchronize(self):
        self._check(self.cu.cuCtxSynchronize(), "cuCtxSynchronize")


def _emulator():
    from .cuda_emulator import Emulator
    return Emulator()


#: The bindings by name; ``TVMINI_CUDA_BINDING`` names one to use alone.
BINDINGS = {PyCuda.name: PyCuda, CudaPython.name: CudaPython, "emulator": _emulator}
#: The bindings tried in order when none is named (the emulator is only ever chosen by name).
AUTOMATIC = (PyCuda.name, CudaPython.name)
