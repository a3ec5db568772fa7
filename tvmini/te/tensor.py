"""Tensors and the operations that produce them: the *what* of a computation.

A ``Tensor`` is output 0 of an ``Operation``: a ``PlaceholderOp`` (an input) or a
``ComputeOp`` (``name[axis...] = body``, where ``body`` may be a ``Reduce`` over reduce
axes). Reading ``T[i, j]`` inside another compute builds a ``ProducerLoad`` node; the
lowering turns those into buffer loads once it knows where ``T`` is stored.
"""
import weakref

from ..errors import ShapeError, ScheduleError
from ..tir import dtype as dt
from ..tir.expr import Const, PrimExpr, Range, Var, convert
from ..tir.functor import walk
from ..tir.simplify import simplify


class IterVar:
    """An iteration axis: a loop variable with its domain and kind.

    ``kind`` is "data" (a data-parallel axis of a compute), "reduce" (a reduce axis)
    or "thread" (a GPU thread axis made by ``te.thread_axis``). An IterVar can be used
    in index arithmetic directly (``A[k + 1]``).
    """
    __hash__ = object.__hash__

    def __init__(self, dom, name, kind, thread_tag=None):
        self.dom = dom
        self.var = Var(name, "int32")
        self.kind = kind
        self.thread_tag = thread_tag

    @property
    def name(self):
        return self.var.name

    def as_expr(self):
        return self.var

    def __repr__(self):
        if self.dom is None:
            return f"IterVar({self.name})"
        return f"IterVar({self.name}, range({self.dom.min}, {simplify(self.dom.min + self.dom.extent)}))"


def _delegate(name):
    return lambda self, *args: getattr(self.var, name)(*args)


for _op in ("add radd sub rsub mul rmul truediv rtruediv floordiv rfloordiv mod rmod "
            "lt le gt ge neg").split():
    setattr(IterVar, f"__{_op}__", _delegate(f"__{_op}__"))


class Operation:
    """Base of placeholder and compute operations; ``output(0)`` is its tensor."""

    def __init__(self, name, shape, dtype):
        self.name = name
        self.shape = tuple(convert(s) for s in shape)
        self.dtype = dtype
        self._output = Tensor(self)

    def output(self, index=0):
        if index != 0:
            raise ScheduleError(f"operation {self.name} has a single output")
        return self._output

    def input_tensors(self):
        return []

    def __repr__(self):
        return f"{type(self).__name__}({self.name})"


#: Operations whose name is the default ("placeholder", "compute"), not the user's.
_DEFAULT_NAMED = weakref.WeakSet()


def named_by_default(op):
    """Record that ``op`` got its name by default; returns ``op``."""
    _DEFAULT_NAMED.add(op)
    return op


def has_default_name(op):
    """Whether ``op``'s name is a default one (several tensors may share it)."""
    return op in _DEFAULT_NAMED


class PlaceholderOp(Operation):
    """An input tensor: memory the caller passes in."""


class ComputeOp(Operation):
    """``name[axis] = body``; ``body`` may be a ``Reduce`` (only at the top level).
    ``attrs``: facts about the compute for its schedule rule (as TVM's), e.g. the
    stride a strided data gradient interleaves its phases by."""

    def __init__(self, name, axis, body, tag="", attrs=None):
        self.axis = tuple(axis)
        self.body = body
        self.tag = tag
        self.attrs = dict(attrs or {})
        super().__init__(name, [iv.dom.extent for iv in axis], body.dtype)

    @property
    def reduce_axis(self):
        return self.body.axis if isinstance(self.body, Reduce) else ()

    def input_tensors(self):
        found = []

        def visit(n):
            if isinstance(n, ProducerLoad) and n.tensor not in found:
                found.append(n.tensor)
        walk(self.body, visit)
        return found


class Tensor:
    """The value produced by an operation; index it with ``T[i, j]`` inside compute."""
    __hash__ = object.__hash__

    def __init__(self, op):
        self.op = op

    @property
    def shape(self):
        return self.op.shape

    @property
    def dtype(self):
        return self.op.dtype

    @property
    def name(self):
        return self.op.name

    @property
    def ndim(self):
        return len(self.op.shape)

    def __getitem__(self, indices):
        if not isinstance(indices, tuple):
            indices = (indices,)
        if len(indices) != self.ndim:
            raise ShapeError(f"tensor {self.name} has {self.ndim} dimensions, indexed with {len(indices)}")
        idx = []
        for axis, i in enumerate(indices):
            if isinstance(i, slice):
                raise ShapeError(f"tensor {self.name}: slices are not expressions; index axis {axis} with an expression")
            e = convert(i)
            if not dt.is_int(e.dtype):
                raise ShapeError(f"tensor {self.name} indexed on axis {axis} with {e.dtype} expression {e}")
            idx.append(e)
        return ProducerLoad(self, idx)

    def __repr__(self):
        return f"Tensor({self.name}, shape={list(self.shape)}, {self.dtype})"


class ProducerLoad(PrimExpr):
    """``tensor[indices]`` inside a te definition."""
    __slots__ = ("tensor", "indices")
    _fields = ("indices",)

    def __init__(self, tensor, indices):
        self.tensor, self.indices, self.dtype = tensor, tuple(indices), tensor.dtype

    def print_parts(self, fmt):
        return f"{self.tensor.name}[{', '.join(fmt(i) for i in self.indices)}]"


class Reducer:
    """A commutative reducer: how to combine two values and its identity element."""

    def __init__(self, name, combine, identity):
        self.name, self.combine, self.identity = name, combine, identity

    def __repr__(self):
        return f"Reducer({self.name})"


class Reduce(PrimExpr):
    """``reducer`` of ``source`` over ``axis`` (IterVars), where ``condition`` holds."""
    __slots__ = ("reducer", "source", "axis", "condition")
    _fields = ("source", "condition")

    def __init__(self, reducer, source, axis, condition=None):
        self.reducer, self.source, self.axis = reducer, source, tuple(axis)
        self.condition = condition if condition is not None else Const(True, "bool")
        self.dtype = source.dtype

    def print_parts(self, fmt):
        axes = ", ".join(iv.name for iv in self.axis)
        cond = "" if isinstance(self.condition, Const) else f", where={fmt(self.condition)}"
        return f"{self.reducer.name}({fmt(self.source)}, axis=[{axes}]{cond})"


def check_reduce_placement(name, body):
    """A Reduce may only be the whole body of a compute, never nested inside it."""
    top = body.source if isinstance(body, Reduce) else body

    def visit(n):
        if isinstance(n, Reduce):
            raise ScheduleError(f"compute {name}: a reduction must be the whole body, not part of {body}")
    walk(top, visit)
    if isinstance(body, Reduce):
        walk(body.condition, visit)


def iter_range(extent):
    return Range(Const(0, "int32"), convert(extent))
