"""The exception hierarchy every layer raises.

All errors derive from :class:`TVMiniError` so a user can catch tvmini's own
failures with one ``except``; the subclass says which part of the stack refused
the input, and the message names the tensor, stage or axis involved.
"""


class TVMiniError(Exception):
    """Base class of every error tvmini raises on purpose."""


class ScheduleError(TVMiniError):
    """An invalid schedule primitive: wrong stage, non-leaf axis, cycle, ..."""


class ShapeError(TVMiniError, ValueError):
    """Arguments whose shape (or symbolic extent binding) does not match."""


class IndexingError(ShapeError, IndexError):
    """An axis or an index out of range, or an index of a kind that is refused (a bool
    or a float): an ``IndexError`` as well, as Python's sequences and PyTorch raise."""


class DTypeError(TVMiniError, TypeError):
    """Arguments or expressions whose dtype does not match what is required."""


class ArgumentError(TVMiniError, TypeError):
    """A kernel called with the wrong number of arguments, or with overlapping outputs."""


class ParameterError(TVMiniError, TypeError):
    """A module attribute assignment that would silently unregister a Parameter
    (PyTorch raises a TypeError there too)."""


class AutogradError(TVMiniError, RuntimeError):
    """A backward that cannot be computed correctly, e.g. a tensor saved for the gradient
    that was modified in place after the forward (PyTorch raises a RuntimeError)."""


class ValueOverflowError(TVMiniError, OverflowError):
    """A Python number that does not fit the dtype it is to be stored in (300 into a uint8
    tensor, 2**63 into int64, 1e300 into float32): PyTorch raises there too, where numpy
    would wrap or round to inf silently."""


class DeviceError(TVMiniError):
    """An argument on the wrong device, or a device that is not available."""


class BuildError(TVMiniError):
    """Lowering or code generation refused the program."""


class DataError(TVMiniError):
    """A data file that is missing, truncated or corrupt."""


class TuningError(TVMiniError):
    """The auto-tuner was given an op it cannot tune, or a config changed a result."""
