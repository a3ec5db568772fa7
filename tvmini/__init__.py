"""tvmini: a small tensor compiler — te expressions, schedules, loop IR, LLVM codegen."""
from . import te, tir
from ._version import __version__
from .codegen import build
from .errors import ArgumentError, BuildError, DataError, DeviceError, DTypeError, ScheduleError, ShapeError, TVMiniError
from .lower import lower
from .serialization import load, save
from .debug import get_debug, kernel_cache_info, set_debug
from .explain import explain
from .profiler import profiler
from . import nn, optim
from . import autotune  # noqa: F401  (installs the tuning-log lookup of topi.default_schedule)
from .runtime import Device, NDArray, cpu, cuda
from .runtime import ndarray as nd
from .graph import (Tensor, arange, enable_grad, from_numpy, full, is_grad_enabled, jit, manual_seed, no_grad,
                    ones, rand, randn, tensor, zeros)


__all__ = ["te", "tir", "build", "lower", "nd", "cpu", "cuda", "Device", "NDArray", "TVMiniError", "ArgumentError",
           "ScheduleError", "ShapeError", "DTypeError", "DeviceError", "BuildError", "DataError",
           "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "zeros", "ones", "full", "randn",
           "rand", "arange", "from_numpy", "manual_seed", "nn", "optim", "save", "load", "jit"]
__all__ += ["explain", "kernel_cache_info", "set_debug", "get_debug", "profiler"]
