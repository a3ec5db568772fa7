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


class DTypeError(TVMiniError, TypeError):
    """Arguments or expressions whose dtype does not match what is required."""


class ArgumentError(TVMiniError, TypeError):
    """A kernel called with the wrong number of arguments, or with overlapping outputs."""


class DeviceError(TVMiniError):
    """An argument on the wrong device, or a device that is not available."""


class BuildError(TVMiniError):
    """Lowering or code generation refused the program."""


class DataError(TVMiniError):
    """A data file that is missing, truncated or corrupt."""


class TuningError(TVMiniError):
    """The auto-tuner was given an op it cannot tune, or a config changed a result."""
