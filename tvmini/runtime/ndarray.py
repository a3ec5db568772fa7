"""NDArray: a dense, C-contiguous tensor owned by the runtime.

Kernels receive raw data pointers, so the runtime owns memory whose layout it
controls: C-contiguous, 64-byte aligned (a cache line, and enough for any
vector load the code generator emits), with a fixed shape and dtype. Users make
arrays with :func:`array` (copies data in), :func:`empty` and :func:`zeros`,
read them back with :meth:`NDArray.numpy` (a copy), and pass them to kernels.

Where the bytes live is a *storage*, built as ``cls(shape, dtype, device)``:
an object with a ``ptr`` (the address handed to kernels), ``host_view()`` (a
host numpy array holding the data, which the caller only reads) and
``from_numpy(arr)`` (copy ``arr`` in, broadcasting it to the storage shape and
converting to the storage dtype); a device storage may add ``copy_from(storage)``
(copy another array's storage in without a round trip through the host).
``_STORAGES`` maps a device kind to its storage class: host memory, and CUDA device
memory (``cuda_driver.CudaStorage``, registered on first use).
"""

import ctypes
import math
import operator
import sys
import threading

import numpy as np

from ..errors import DeviceError, DTypeError, ShapeError
from .device import Device, as_device, cpu

#: The dtypes an NDArray (and a kernel argument) may have.
SUPPORTED_DTYPES = ("float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool")

#: Byte alignment of every NDArray's data pointer.
ALIGNMENT = 64

_CPU0 = cpu(0)

class _ThreadHooks(threading.local):
    """Hooks per thread. ``trace``: set by ``tm.jit`` while it records a step on this
    thread, to ``hook(event, array, source)`` with event "new" (an array made by
    :func:`array`/:func:`zeros`; ``source`` the NDArray copied, or None), "copy"
    (``copyfrom`` into ``array`` from ``source``) or "read" (the data is read back to
    the host); None otherwise: one check on those paths. Other threads' arrays are not
    the step's (a class attribute is each thread's default)."""
    trace = None


thread_hooks = _ThreadHooks()


def _probe_data_offset():
    """Offset of the data pointer inside a numpy array object, or None.

    numpy's PyArrayObject starts with the object header followed by ``char
    *data`` (public ABI since numpy 1.7), and CPython's ``id`` is the object's
    address, so one ctypes read replaces ``arr.ctypes.data`` (~0.2 µs instead
    of ~1-2 µs). The offset is verified on probe arrays; None means "use the slow
    public way".
    """
    if sys.implementation.name != "cpython":
        return None
    offset = object.__basicsize__
    probes = [np.empty(5, "float32"), np.empty((2, 3), "int8")[1:], np.zeros(0)]
    for probe in probes:
        if ctypes.c_void_p.from_address(id(probe) + offset).value != probe.ctypes.data:
            return None
    return offset


_DATA_OFFSET = _probe_data_offset()
_read_pointer = ctypes.c_void_p.from_address

if _DATA_OFFSET is None:
    def numpy_data_ptr(arr):
        """The address of numpy array ``arr``'s first element."""
        return arr.ctypes.data
else:
    def numpy_data_ptr(arr):
        """The address of numpy array ``arr``'s first element."""
        return _read_pointer(id(arr) + _DATA_OFFSET).value or 0


_NORMALIZED_DTYPES = {}     # what normalize_dtype was given -> its result (every array asks)
#: Name of each supported dtype (numpy computes ``dtype.name`` anew on every access).
_DTYPE_NAMES = {np.dtype(name): name for name in SUPPORTED_DTYPES}


def normalize_dtype(dtype):
    """Return the native-byte-order numpy dtype for ``dtype`` (a str, numpy
    dtype or numpy scalar type), or raise DTypeError if it is not one of
    :data:`SUPPORTED_DTYPES`."""
    try:
        return _NORMALIZED_DTYPES[dtype]
    except (KeyError, TypeError):
        pass
    if dtype is None:  # np.dtype(None) would silently mean float64
        raise DTypeError("not a dtype: None")
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise DTypeError(f"not a dtype: {dtype!r}") from None
    if name not in SUPPORTED_DTYPES:
        raise DTypeError(f"unsupported dtype {name!r}: expected one of {SUPPORTED_DTYPES}")
    result = np.dtype(name)
    try:
        _NORMALIZED_DTYPES[dtype] = result
    except TypeError:
        pass
    return result


def is_dtype(value):
    """Whether ``value`` spells a dtype (``"float64"``, ``tm.int64``, ``np.float32``) rather
    than something else, e.g. a device ("cpu", "cuda:0"); supported or not."""
    if value is None:                 # np.dtype(None) would be float64
        return False
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


def dtype_name(dtype):
    """The name ("float32") of ``dtype`` in any spelling :func:`normalize_dtype` takes,
    from two dict lookups: numpy computes ``np.dtype(...).name`` anew on every access
    (about 1 us, with ``np.issubdtype`` inside), too slow for every op's dtype checks."""
    return _DTYPE_NAMES[normalize_dtype(dtype)]


def normalize_shape(shape):
    """Return ``shape`` (an int or a sequence of ints) as a tuple of Python ints,
    raising ShapeError for negative or non-integer extents."""
    if type(shape) is tuple and all(type(d) is int and d >= 0 for d in shape):
        return shape              # the common case, already normalized
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise ShapeError(f"a shape is an int or a sequence of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ShapeError(f"shape {dims} has a negative extent")
    return dims


class _HostStorage:
    """CPU memory: a 64-byte aligned, C-contiguous numpy array.

    numpy only guarantees 16-byte alignment, so the storage allocates
    ``ALIGNMENT - 1`` spare bytes and starts the array at the first aligned
    offset. The array's ``base`` chain keeps the whole buffer alive. The
    ``device`` argument of the storage protocol is unused: there is one host.

    The shaped numpy array over the bytes (:attr:`array`) is made on first use:
    most arrays (an op's outputs) only ever go to kernels, which take the pointer
    alone, and making that view (~0.4 us) costs twice as much as allocating the bytes.
    Until then the storage holds the bytes itself (``_raw``, from ``_offset`` on).
    """

    __slots__ = ("_array", "_raw", "_offset", "_shape", "_dtype", "ptr")

    def __init__(self, shape, dtype, device):
        raw = np.empty(math.prod(shape) * dtype.itemsize + ALIGNMENT - 1, dtype=np.uint8)
        base = numpy_data_ptr(raw)
        self._offset = offset = -base % ALIGNMENT
        self._raw, self._shape, self._dtype, self._array = raw, shape, dtype, None
        self.ptr = base + offset

    @property
    def array(self):
        """The numpy array of this storage's shape and dtype over its bytes (made once)."""
        array = self._array
        if array is None:
            array = self._array = np.ndarray(self._shape, self._dtype, self._raw, self._offset)
            self._raw = None            # the array's base keeps the bytes alive now
        return array

    def host_view(self):
        """The live array itself (no copy)."""
        return self.array

    def from_numpy(self, arr):
        """Copy ``arr`` in, broadcasting it to this shape and converting to this dtype."""
        np.copyto(self.array, arr, casting="unsafe")


_STORAGES = {"cpu": _HostStorage}


def _allocate(shape, dtype, device):
    """The storage of a new array of ``shape``/``dtype`` on ``device``; a ShapeError
    when its bytes exceed what a process can address (numpy's ValueError), a
    DeviceError when the device has no memory for them (numpy's MemoryError), each
    naming the shape and the bytes."""
    try:
        return _storage_class(device)(shape, dtype, device)
    except (ValueError, OverflowError, MemoryError) as err:
        nbytes = math.prod(shape) * dtype.itemsize
        what = f"an array of shape {shape} and dtype {dtype.name} ({nbytes} bytes)"
        if isinstance(err, MemoryError):
            raise DeviceError(f"{device} has no memory for {what}; free arrays or make a smaller one") from None
        raise ShapeError(f"{what} is larger than a process can address ({sys.maxsize} bytes)") from None


def _storage_class(device):
    try:
        return _STORAGES[device.kind]
    except KeyError:                    # Device admits only "cpu" and "cuda"
        from .cuda_driver import CudaStorage     # imports nothing CUDA-specific until it allocates
        _STORAGES["cuda"] = CudaStorage
        return CudaStorage


class NDArray:
    """A C-contiguous, 64-byte aligned tensor on a device.

    ``NDArray(shape, dtype="float32", device=None)`` allocates uninitialised
    memory (like :func:`empty`); ``device`` defaults to ``cpu(0)``. Shape,
    dtype and device never change; the contents change through
    :meth:`copyfrom` and through kernels that write the array.
    """

    # The runtime's Module reads _ptr, _shape, _dtype and _device directly on
    # its hot path; they are fixed at construction. ``_version`` counts the in-place
    # writes made through :meth:`copyfrom` and the graph layer's in-place kernels, so
    # autodiff can tell an array saved for a gradient was overwritten (as PyTorch's).
    __slots__ = ("_storage", "_shape", "_dtype", "_device", "_ptr", "_nbytes", "_version")

    def __init__(self, shape, dtype="float32", device=None):
        self._shape = normalize_shape(shape)
        self._dtype = normalize_dtype(dtype)
        self._device = _CPU0 if device is None else as_device(device)
        self._storage = _allocate(self._shape, self._dtype, self._device)
        self._ptr = self._storage.ptr
        self._nbytes = math.prod(self._shape) * self._dtype.itemsize
        self._version = 0

    @property
    def shape(self):
        """The shape, a tuple of ints."""
        return self._shape

    @property
    def dtype(self):
        """The dtype name, e.g. "float32"."""
        return _DTYPE_NAMES[self._dtype]

    @property
    def device(self):
        """The :class:`~tvmini.runtime.device.Device` holding the data."""
        return self._device

    @property
    def ndim(self):
        """Number of dimensions."""
        return len(self._shape)

    @property
    def size(self):
        """Number of elements."""
        return math.prod(self._shape)

    @property
    def nbytes(self):
        """Size of the data in bytes."""
        return self._nbytes

    @property
    def data_ptr(self):
        """Address of the first element (an int; a multiple of 64)."""
        return self._ptr

    def numpy(self):
        """Return a new numpy array holding a copy of the data."""
        hook = thread_hooks.trace
        if hook is not None:
            hook("read", self, None)
        return np.array(self._storage.host_view(), copy=True)

    def asnumpy(self):
        """TVM's name for :meth:`numpy`."""
        return self.numpy()

    def copyfrom(self, src):
        """Copy ``src`` (a numpy array or an NDArray of the same shape and dtype)
        into this array and return this array.

        Raises ShapeError or DTypeError on a mismatch; no conversion is done.
        """
        if isinstance(src, NDArray):
            src_shape, src_dtype = src._shape, src._dtype
        elif isinstance(src, np.ndarray):
            src_shape, src_dtype = src.shape, src.dtype
        else:
            raise DTypeError(
                f"copyfrom() takes a numpy array or an NDArray, got {type(src).__name__}"
            )
        if src_shape != self._shape:
            raise ShapeError(f"copyfrom(): source shape {src_shape} does not match {self._shape}")
        if src_dtype != self._dtype:
            raise DTypeError(f"copyfrom(): source dtype {src_dtype} does not match {self.dtype}")
        if not isinstance(src, NDArray):
            self._storage.from_numpy(src)
        elif hasattr(self._storage, "copy_from"):
            self._storage.copy_from(src._storage)
        else:
            self._storage.from_numpy(src._storage.host_view())
        self._version += 1
        hook = thread_hooks.trace
        if hook is not None:
            hook("copy", self, src)
        return self

    def copyto(self, target):
        """Copy this array into ``target``.

        ``target`` is an NDArray (same shape and dtype; it is filled and
        returned) or a device (a new NDArray there is returned).
        """
        if isinstance(target, NDArray):
            return target.copyfrom(self)
        return NDArray(self._shape, self._dtype, as_device(target)).copyfrom(self)

    # Copies and pickles hold new memory: ``_ptr`` is an address in the storage it was
    # made for, valid in that storage's process only, so it is never copied over.
    def __copy__(self):
        """An independent copy on the same device (as numpy's ``copy.copy``)."""
        return self.copyto(self._device)

    def __deepcopy__(self, memo):
        """An independent copy on the same device."""
        return self.copyto(self._device)

    def __reduce__(self):
        """Pickled as its values and device: unpickling allocates new storage there (a
        CUDA array needs a CUDA device where it is unpickled)."""
        return array, (self.numpy(), None, self._device)

    def __repr__(self):
        head = f"<tvmini.NDArray shape={self._shape}, dtype={self.dtype}, device={self._device}>"
        return head + "\n" + np.array2string(self._storage.host_view(), separator=", ")


def _infer_dtype(data):
    """The dtype :func:`array` gives Python data (see its docstring)."""
    kind = data.dtype.kind
    if kind == "f":
        return np.dtype("float32")
    if kind in "iu":
        return np.dtype("int64")
    if kind == "b":
        return np.dtype("bool")
    raise DTypeError(f"array(): cannot make a tensor of {data.dtype} values")


def array(obj, dtype=None, device=None):
    """Return a new NDArray holding a copy of ``obj``.

    ``obj`` is a numpy array, an NDArray, a numpy scalar, or (nested) Python
    lists and scalars. Without ``dtype`` the result keeps the dtype of a numpy
    array, numpy scalar or NDArray (it must be supported); Python data becomes
    float32 if any element is a float, else int64 for ints and bool for bools.
    With ``dtype`` values are converted to it as numpy's ``astype`` would.
    ``device`` defaults to ``cpu(0)``; a Device in ``dtype``'s place is the device, as
    in TVM's ``tvm.nd.array(data, device)``.
    """
    if isinstance(dtype, Device):
        if device is not None:
            raise DTypeError(f"array(): dtype {dtype!r} is a device, and device={device!r} is given too")
        dtype, device = None, dtype
    if isinstance(obj, NDArray):
        data = obj._storage.host_view()
    elif isinstance(obj, (np.ndarray, np.generic)):
        data = np.asarray(obj)
    else:
        try:
            data = np.asarray(obj)
        except ValueError as err:
            raise ShapeError(f"array(): {obj!r:.80} is not a rectangular array ({err})") from None
        if dtype is None:
            dtype = _infer_dtype(data)
    result = NDArray(data.shape, data.dtype if dtype is None else dtype, device)
    result._storage.from_numpy(data)
    hook = thread_hooks.trace
    if hook is not None:
        hook("new", result, obj if isinstance(obj, NDArray) else None)
    return result


def empty(shape, dtype="float32", device=None):
    """Return a new NDArray of ``shape`` and ``dtype`` with uninitialised contents."""
    return NDArray(shape, dtype, device)


def new(shape, dtype, device):
    """``empty(shape, dtype, device)`` for a normalized shape (a tuple of ints), a numpy
    dtype and a Device, without checking them: an op's output on the hot path."""
    return _wrap(_allocate(shape, dtype, device), shape, dtype, device)


def zeros(shape, dtype="float32", device=None):
    """Return a new NDArray of ``shape`` and ``dtype`` filled with zeros."""
    result = NDArray(shape, dtype, device)
    result._storage.from_numpy(np.zeros((), dtype=result._dtype))
    hook = thread_hooks.trace
    if hook is not None:
        hook("new", result, None)
    return result


def view(base, offset, shape, dtype):
    """An NDArray over array ``base``'s memory from byte ``offset`` (a multiple of
    ``ALIGNMENT``) on, on ``base``'s device: a temporary inside the arena ``tm.jit``
    plans. The view keeps ``base``'s memory alive; writing one writes the other."""
    shape, dtype = normalize_shape(shape), normalize_dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if offset < 0 or offset % ALIGNMENT or offset + nbytes > base.nbytes:
        raise ShapeError(f"view: {nbytes} bytes at offset {offset} do not fit aligned in {base.nbytes} bytes")
    if base._device.kind != "cpu":
        return _wrap(base._storage.view(offset, shape, dtype), shape, dtype, base._device)
    raw = base._storage.array.reshape(-1).view(np.uint8)
    return _carve(raw, base._ptr, offset, shape, dtype, base._device)


class ArrayBlock:
    """NDArrays of fixed ``specs`` ((shape, dtype) pairs, normalized) on ``device``, made
    anew by every :meth:`take` and carved from one allocation at 64-byte aligned
    offsets: the gradients and results a ``tm.jit`` replay leaves.

    On the host, a take reuses the previous take's allocation when nothing refers to it
    any more: no NDArray carved from it, and no numpy view of one, is alive. The step
    then writes memory it wrote the step before, still in cache, instead of a block
    freed longer ago (measured on the MNIST MLP jit step, whose ~1 MB of gradients the
    allocator handed out in two alternating blocks: 1.26 -> 1.11 ms). Arrays a caller
    keeps are never written again: their allocation is still referenced, so the take
    allocates. When the block is free the last take's NDArray objects themselves are
    handed out again (nothing can tell them from new ones: nothing refers to them),
    which saves making them (about 0.7 us each per replay). On a CUDA device every take
    allocates: the device's memory pool hands the last block back once it is free."""

    def __init__(self, specs, device=None):
        self._specs, self._offsets, total = list(specs), [], 0
        for shape, dtype in self._specs:
            self._offsets.append(total)
            total += -(-max(math.prod(shape) * dtype.itemsize, 1) // ALIGNMENT) * ALIGNMENT
        self._device = _CPU0 if device is None else as_device(device)
        self._bytes = total + ALIGNMENT - 1 if self._device.kind == "cpu" else total
        self._raw, self._last = None, []

    def take(self, holders=0):
        """Fresh NDArrays of the specs (uninitialised, or holding what the last take's
        arrays held when their memory is reused). ``holders``: how many references to
        each of the last take's arrays the caller accounts for (its own wrappers, which
        it will rewrap or keep knowing the memory is rewritten); 0 reuses the memory
        only when nothing else refers to the arrays."""
        if not self._specs:
            return []
        if self._device.kind != "cpu":
            raw = NDArray((self._bytes,), "uint8", self._device)
            return [view(raw, offset, shape, dtype) for offset, (shape, dtype) in zip(self._offsets, self._specs)]
        # The block is free when only we (and the caller's ``holders``) hold the last
        # take's arrays (our list and getrefcount's argument count 2), only they hold
        # their numpy arrays, and nothing else holds the block (us, the argument and
        # those numpy arrays, whose base it is): no numpy view of one is alive.
        last, expected = self._last, 3 + holders
        if last and sys.getrefcount(self._raw) == 2 + len(last) and \
                all(sys.getrefcount(a) == expected and sys.getrefcount(a._storage.array) == 2 for a in last):
            return list(last)
        self._raw = raw = np.empty(self._bytes, dtype=np.uint8)
        start = numpy_data_ptr(raw)
        skip = -start % ALIGNMENT
        self._last = [_carve(raw, start, skip + offset, shape, dtype, _CPU0)
                      for offset, (shape, dtype) in zip(self._offsets, self._specs)]
        return list(self._last)


def _carve(raw, raw_ptr, offset, shape, dtype, device):
    """The NDArray of ``shape``/``dtype`` over host bytes ``raw`` (whose first byte is at
    ``raw_ptr``) from ``offset``; it keeps ``raw`` alive."""
    storage = _HostStorage.__new__(_HostStorage)
    storage._array, storage._raw = np.ndarray(shape, dtype, raw, offset), None
    storage.ptr = raw_ptr + offset
    return _wrap(storage, shape, dtype, device)


def _wrap(storage, shape, dtype, device):
    """The NDArray over ``storage`` (normalized ``shape`` and ``dtype``)."""
    result = NDArray.__new__(NDArray)
    result._storage, result._shape, result._dtype, result._device, result._ptr = \
        storage, shape, dtype, device, storage.ptr
    result._nbytes = math.prod(shape) * dtype.itemsize
    result._version = 0
    return result
