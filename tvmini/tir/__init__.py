"""tir: the loop IR — expressions, statements, printer, simplifier and passes."""
from . import dtype
from .expr import (Add, And, BinaryOp, BufferLoad, Call, Cast, Const, Div, EQ, FloorDiv, FloorMod, GE, GT,
                   LE, LT, Max, Min, Mul, NE, Not, Or, PrimExpr, Range, Select, Sub, Var, const, convert)
from .printer import expr_str, func_str, stmt_str
from .simplify import simplify
from .stmt import (Allocate, Buffer, BufferStore, For, ForKind, IfThenElse, LetStmt, PrimFunc, SeqStmt,
                   Stmt, seq_of)
