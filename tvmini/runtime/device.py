"""Devices: where an array lives and where a kernel runs.

A :class:`Device` is a small immutable value, ``Device("cpu", 0)`` or
``Device("cuda", 1)``. Every API that takes a device also takes the usual
spellings ("cpu", "cuda", "cuda:1", and the target name "llvm" for the host
CPU); :func:`as_device` is the single place that turns those into a Device, so
the accepted spellings and the error for a bad one are the same everywhere.
"""

from ..errors import DeviceError

#: The device kinds tvmini knows about.
KINDS = ("cpu", "cuda")

# Spellings that name a device kind without an index.
_ALIASES = {"cpu": "cpu", "llvm": "cpu", "cuda": "cuda"}

# (kind, index) -> the one Device with that value.
_INTERNED = {}


class Device:
    """An immutable (kind, index) pair such as ``cpu(0)`` or ``cuda(1)``.

    Devices compare and hash by value, so they can be dictionary keys (kernel
    caches are keyed by device). They are also interned: equal devices are the
    same object, which lets the kernel-call hot path compare them with ``is``.
    ``kind`` is "cpu" or "cuda"; ``index`` is a non-negative int. Constructing
    a Device does not check that the hardware exists: using it (allocating an
    array, running a kernel) does.
    """

    __slots__ = ("kind", "index", "_key")

    def __new__(cls, kind, index=0):
        if kind not in KINDS:
            raise DeviceError(f"unknown device kind {kind!r}: expected one of {KINDS}")
        if type(index) is not int or index < 0:
            raise DeviceError(f"device index must be a non-negative int, got {index!r}")
        key = (kind, index)
        device = _INTERNED.get(key)
        if device is None:
            device = object.__new__(cls)
            object.__setattr__(device, "kind", kind)
            object.__setattr__(device, "index", index)
            object.__setattr__(device, "_key", key)
            _INTERNED[key] = device
        return device

    def __setattr__(self, name, value):
        raise AttributeError(f"Device is immutable; cannot set {name!r}")

    def __eq__(self, other):
        if self is other:
            return True
        if isinstance(other, Device):
            return self._key == other._key
        return NotImplemented

    #: Equal devices are one object (interned by ``__new__``, also when unpickled), so
    #: the identity hash is a hash by value; being C-level, it keeps hashing a kernel
    #: cache key (every op's call) free of a Python call.
    __hash__ = object.__hash__

    def __repr__(self):
        return f"{self.kind}({self.index})"

    def __reduce__(self):
        return (Device, self._key)

    def sync(self):
        """Wait until every kernel and copy queued on this device has finished (as
        TVM's ``dev.sync()``, ``torch.cuda.synchronize()``): CUDA launches return before
        their kernels run. Nothing to wait for on the CPU, whose kernels return done."""
        if self.kind == "cuda":
            from .cuda_driver import driver
            driver().synchronize()


def cpu(index=0):
    """The host CPU, ``Device("cpu", index)``."""
    return Device("cpu", index)


def cuda(index=0):
    """The CUDA GPU number ``index``, ``Device("cuda", index)``."""
    return Device("cuda", index)


def as_device(value):
    """Turn a Device or a device string into a :class:`Device`.

    Accepted: a Device (returned as is), "cpu", "llvm" (the host CPU, as in
    ``target="llvm"``), "cuda", and "kind:N" such as "cuda:1" or "cpu:0".
    Anything else raises :class:`~tvmini.errors.DeviceError` naming the value.
    """
    if isinstance(value, Device):
        return value
    if isinstance(value, str):
        kind, sep, index = value.partition(":")
        kind = _ALIASES.get(kind)
        if kind is not None and not sep:
            return Device(kind, 0)
        if kind is not None and index.isdigit() and index.isascii():
            return Device(kind, int(index))
    raise DeviceError(
        f"unknown device {value!r}: expected a Device, 'cpu', 'cuda', 'cuda:N' or 'llvm'"
    )
