"""tvmini: a small tensor compiler — te expressions, schedules, loop IR, LLVM codegen."""
from . import te, tir
from ._version import __version__
from .codegen import build
from .errors import ArgumentError, BuildError, DataError, DeviceError, DTypeError, ScheduleError, ShapeError, TVMiniError
from .lower import lower
from .runtime import Device, NDArray, cpu, cuda
from .runtime import ndarray as nd


__all__ = ["te", "tir", "build", "lower", "nd", "cpu", "cuda", "Device", "NDArray", "TVMiniError", "ArgumentError",
           "ScheduleError", "ShapeError", "DTypeError", "DeviceError", "BuildError", "DataError"]
