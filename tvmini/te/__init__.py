"""te: tensor expressions (what to compute) and schedules (how to compute it)."""
from ..tir.expr import PrimExpr, Var
from .operation import (abs, acos, all, any, asin, atan, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil,
                        comm_reducer, compute, const, cos, erf, exp, exp2, expm1, floor, floordiv, floormod, fmod,
                        if_then_else, indexdiv, indexmod, isfinite, isinf, isnan, left_shift, log, log1p, log2, log10, max, max_value, min,
                        min_value, nearbyint, placeholder, power, prod, reduce_axis, right_shift, round, rsqrt, sigmoid, sin, sqrt,
                        size_var, sum, tan, tanh, thread_axis, trunc, truncdiv, truncmod, var)
from .schedule import Schedule, Stage, create_schedule
from .tensor import ComputeOp, IterVar, PlaceholderOp, ProducerLoad, Reduce, Tensor

__all__ = [
    "abs", "all", "any", "ceil", "comm_reducer", "compute", "const", "cos", "exp", "floor", "if_then_else", "log",
    "max", "min", "placeholder", "power", "prod", "reduce_axis", "round", "sigmoid", "sin", "sqrt", "sum",
    "tanh", "thread_axis", "var", "acos", "asin", "atan", "erf", "exp2", "expm1", "log1p", "log2", "log10",
    "tan", "trunc", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "left_shift", "right_shift",
    "floordiv", "floormod", "truncdiv", "truncmod", "fmod", "isnan", "isinf", "isfinite", "rsqrt", "min_value",
    "max_value", "indexdiv", "indexmod", "nearbyint", "size_var",
    "Schedule", "Stage", "create_schedule", "ComputeOp", "IterVar", "PlaceholderOp", "ProducerLoad", "Reduce",
    "Tensor", "PrimExpr", "Var",
]

#: TVM te functions tvmini does not have, with what to do instead.
_UNSUPPORTED = {
    "extern": "write the computation as te.compute stages",
    "scan": "unroll the recurrence into te.compute stages, or loop in Python over built kernels",
    "hybrid": "write the computation as te.compute stages",
    "decl_buffer": "tvmini allocates a tensor's buffer when it lowers the schedule",
    "create_prim_func": "tvmini lowers te schedules (tm.lower); it has no TensorIR",
    "gradient": "differentiate with the graph layer (tm.tensor(..., requires_grad=True) and .backward())",
}


def __getattr__(name):
    if name in _UNSUPPORTED:
        from ..errors import TVMiniError
        raise TVMiniError(f"te.{name} (TVM's) is not supported by tvmini: {_UNSUPPORTED[name]}")
    raise AttributeError(f"module 'tvmini.te' has no attribute {name!r}")
