"""te: tensor expressions (what to compute) and schedules (how to compute it)."""
from ..tir.expr import PrimExpr, Var
from .operation import (abs, all, any, ceil, compute, const, cos, exp, floor, if_then_else, log, max,
                        min, placeholder, power, prod, reduce_axis, round, sigmoid, sin, sqrt, sum, tanh,
                        thread_axis, var)
from .schedule import Schedule, Stage, create_schedule
from .tensor import ComputeOp, IterVar, PlaceholderOp, ProducerLoad, Reduce, Tensor

__all__ = [
    "abs", "all", "any", "ceil", "compute", "const", "cos", "exp", "floor", "if_then_else", "log",
    "max", "min", "placeholder", "power", "prod", "reduce_axis", "round", "sigmoid", "sin", "sqrt", "sum",
    "tanh", "thread_axis", "var", "Schedule", "Stage", "create_schedule", "ComputeOp", "IterVar",
    "PlaceholderOp", "ProducerLoad", "Reduce", "Tensor", "PrimExpr", "Var",
]
