"""Device memory for CUDA NDArrays, kept and handed out again like PyTorch's allocator.

Every eager op on a CUDA tensor makes its output array, and a training step drops as
many as it makes. Through the driver directly each would cost a ``cuMemAlloc`` and a
``cuMemFree`` (tens of microseconds each, and ``cuMemFree`` waits for the device to
finish its queued work, so launches would stop overlapping the Python that issues
them). The pool instead keeps a freed block on a free list of its size class and gives
it to the next array of that class. Reuse is safe without events because tvmini queues
everything on one stream: a kernel that writes the reused block runs after every kernel
that was queued while the block belonged to the dropped array.

The pool, not the blocks, holds the driver's allocation objects (whose collection frees
the memory). A block dropped inside a reference cycle is collected by Python's cyclic
collector, which finalizes everything reachable only from the cycle: had the block held
the allocation object, the collector would free the memory *and* the block's ``__del__``
would put the same address on a free list, to be handed to the next array (the
``CUDA_ERROR_INVALID_VALUE`` of long multi-model runs on a GPU). Owned by the pool, which
a module global keeps reachable, an allocation is freed only when the pool lets it go.

Size classes: multiples of 512 bytes up to 1 MiB, then eight classes per power of two
(at most 1/8 of a block is slack). When the driver has no memory left, the pool frees
the blocks it holds and asks once more. ``memory_stats()`` / ``empty_cache()`` in
``runtime.cuda_driver`` report and release them.
"""
from ..errors import DeviceError

SMALL_LIMIT = 1 << 20
SMALL_STEP = 512


def size_class(nbytes):
    """The bytes a block for ``nbytes`` bytes has (see the module docstring)."""
    nbytes = max(int(nbytes), 1)
    if nbytes <= SMALL_LIMIT:
        return -(-nbytes // SMALL_STEP) * SMALL_STEP
    step = 1 << (nbytes.bit_length() - 4)
    return -(-nbytes // step) * step


class Block:
    """One block of device memory lent to an array; back to its pool when collected."""

    __slots__ = ("pool", "ptr", "size")

    def __init__(self, pool, ptr, size):
        self.pool, self.ptr, self.size = pool, ptr, size

    def __del__(self):
        self.pool.give_back(self.ptr, self.size)


class DevicePool:
    """The free lists of one driver binding (see the module docstring)."""

    def __init__(self, driver):
        self.driver = driver
        self._free = {}                 # size class -> [address]
        self._owners = {}               # address -> the driver's allocation object, lent or free
        self.in_use = self.cached = 0   # bytes lent to arrays / held on free lists
        self.driver_allocations = 0

    def alloc(self, nbytes):
        """(block, address) of at least ``nbytes`` bytes; the memory is lent while the
        block lives."""
        size = size_class(nbytes)
        free = self._free.get(size)
        if free:
            ptr = free.pop()
            self.cached -= size
        else:
            try:
                owner, ptr = self.driver.alloc(size)
            except DeviceError:
                if not self.cached:
                    raise
                self.empty()
                owner, ptr = self.driver.alloc(size)
            self._owners[ptr] = owner
            self.driver_allocations += 1
        self.in_use += size
        return Block(self, ptr, size), ptr

    def give_back(self, ptr, size):
        self._free.setdefault(size, []).append(ptr)
        self.in_use -= size
        self.cached += size

    def empty(self):
        """Return every block on the free lists to the driver."""
        for free in self._free.values():
            for ptr in free:
                del self._owners[ptr]
        self._free.clear()
        self.cached = 0

    def stats(self):
        return {"in_use_bytes": self.in_use, "cached_bytes": self.cached,
                "driver_allocations": self.driver_allocations}
