"""te: tensor expressions (what to compute) and schedules (how to compute it)."""
from ..tir.expr import PrimExpr, Var
from .operation import (abs, acos, all, any, asin, atan, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil,
                        comm_reducer, compute, const, cos, erf, exp, exp2, expm1, floor, floordiv, floormod, fmod,
                        if_then_else, indexdiv, indexmod, isfinite, isinf, isnan, left_shift, log, log1p, log2, log10, max, max_value, min,
                        min_value, nearbyint, placeholder, power, prod, reduce_axis, right_shift, round, rsqrt, sigmoid, sin, sqrt,
                        sum, tan, tanh, thread_axis, trunc, truncdiv, truncmod, var)
from .schedule import Schedule, Stage, create_schedule
from .tensor import ComputeOp, IterVar, PlaceholderOp, ProducerLoad, Reduce, Tensor

__all__ = [
    "abs", "all", "any", "ceil", "comm_reducer", "compute", "const", "cos", "exp", "floor", "if_then_else", "log",
    "max", "min", "placeholder", "power", "prod", "reduce_axis", "round", "sigmoid", "sin", "sqrt", "sum",
    "tanh", "thread_axis", "var", "acos", "asin", "atan", "erf", "exp2", "expm1", "log1p", "log2", "log10",
    "tan", "trunc", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "left_shift", "right_shift",
    "floordiv", "floormod", "truncdiv", "truncmod", "fmod", "isnan", "isinf", "isfinite", "rsqrt", "min_value",
    "max_value", "indexdiv", "indexmod", "nearbyint",
    "Schedule", "Stage", "create_schedule", "ComputeOp", "IterVar", "PlaceholderOp", "ProducerLoad", "Reduce",
    "Tensor", "PrimExpr", "Var",
]
