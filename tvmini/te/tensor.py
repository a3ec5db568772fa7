"""Tensors and the operations that produce them: the *what* of a computation.

A ``Tensor`` is an output of an ``Operation``: a ``PlaceholderOp`` (an input) or a
``ComputeOp`` (``name[axis...] = body``, where ``body`` may be a ``Reduce`` over reduce
axes; a compute of several bodies, as TVM's, has one output per body, computed in one
loop nest). Reading ``T[i, j]`` inside another compute builds a ``ProducerLoad`` node; the
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
    """Base of placeholder and compute operations; ``output(i)`` is its tensor ``i``
    (all of one shape; ``dtypes[i]`` is its dtype, ``dtype`` output 0's)."""

    def __init__(self, name, shape, dtypes):
        self.name = name
        self.shape = tuple(convert(s) for s in shape)
        self.dtypes = tuple(dtypes) if isinstance(dtypes, (tuple, list)) else (dtypes,)
        self.dtype = self.dtypes[0]
        self.outputs = tuple(Tensor(self, i) for i in range(len(self.dtypes)))

    @property
    def num_outputs(self):
        return len(self.outputs)

    def output(self, index=0):
        if not 0 <= index < len(self.outputs):
            raise ScheduleError(f"operation {self.name} has {len(self.outputs)} output(s); there is no output {index}")
        return self.outputs[index]

    @property
    def input_tensors(self):
        """The tensors the op reads (a property, as TVM's)."""
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
    ``bodies``: a tuple, one per output (``body`` is the single one's); several
    reductions share their reducer, axes and condition (a tuple reduction, such as an
    argmax's (index, value) pair). ``attrs``: facts about the compute for its schedule
    rule (as TVM's), e.g. the stride a strided data gradient interleaves its phases by."""

    def __init__(self, name, axis, body, tag="", attrs=None):
        self.axis = tuple(axis)
        self.bodies = tuple(body) if isinstance(body, (tuple, list)) else (body,)
        self.tag = tag
        self.attrs = dict(attrs or {})
        super().__init__(name, [iv.dom.extent for iv in axis], [b.dtype for b in self.bodies])

    @property
    def body(self):
        """The body of a single-output compute."""
        if len(self.bodies) != 1:
            raise ScheduleError(f"compute {self.name} has {len(self.bodies)} outputs; its bodies are op.bodies")
        return self.bodies[0]

    @property
    def reduce_axis(self):
        first = self.bodies[0]
        return first.axis if isinstance(first, Reduce) else ()

    @property
    def input_tensors(self):
        """The tensors the op reads, in order of first read (a property, as TVM's)."""
        found = []

        def visit(n):
            if isinstance(n, ProducerLoad) and n.tensor not in found:
                found.append(n.tensor)
        for body in self.bodies:
            walk(body, visit)
        return found


class Tensor:
    """The value produced by an operation; index it with ``T[i, j]`` inside compute."""
    __hash__ = object.__hash__

    def __init__(self, op, value_index=0):
        self.op, self.value_index = op, value_index

    @property
    def shape(self):
        return self.op.shape

    @property
    def dtype(self):
        return self.op.dtypes[self.value_index]

    @property
    def name(self):
        """The op's name; ``name.v0``, ``name.v1``, ... for the outputs of a compute of
        several (as TVM's)."""
        return self.op.name if self.op.num_outputs == 1 else f"{self.op.name}.v{self.value_index}"

    @property
    def ndim(self):
        return len(self.op.shape)

    def __call__(self, *indices):
        """``T(i, j)``: TVM's call form of ``T[i, j]`` (``lambda *i: A(*i)``)."""
        return self[indices]

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
    """A commutative reducer: how to combine two values and its identity element.

    ``combine(a, b)`` and ``identity(dtype)`` take and give expressions; a tuple
    reducer's (``arity`` > 1) take and give tuples of them (``identity`` one dtype per
    value), as TVM's ``comm_reducer`` over tuples."""

    def __init__(self, name, combine, identity, arity=1):
        self.name, self.combine, self.identity, self.arity = name, combine, identity, arity

    def combine_all(self, xs, ys):
        """``combine`` of two tuples of values, whatever the arity."""
        return (self.combine(xs[0], ys[0]),) if self.arity == 1 else tuple(self.combine(tuple(xs), tuple(ys)))

    def identities(self, dtypes):
        """The identity element per value, for values of ``dtypes``, whatever the arity."""
        return (self.identity(dtypes[0]),) if self.arity == 1 else tuple(self.identity(tuple(dtypes)))

    def __repr__(self):
        return f"Reducer({self.name})"


class Reduce(PrimExpr):
    """``reducer`` of ``source`` over ``axis`` (IterVars), where ``condition`` holds.

    A tuple reducer reduces ``sources`` (one expression per value) together; the node
    stands for value ``value_index`` of the result, so a compute of such a reduction has
    one body per value (``te.compute`` makes them from the tuple the reducer returns)."""
    __slots__ = ("reducer", "sources", "axis", "condition", "value_index")
    _fields = ("sources", "condition")

    def __init__(self, reducer, source, axis, condition=None, value_index=0):
        self.reducer, self.axis, self.value_index = reducer, tuple(axis), value_index
        self.sources = tuple(source) if isinstance(source, (tuple, list)) else (source,)
        self.condition = condition if condition is not None else Const(True, "bool")
        self.dtype = self.sources[value_index].dtype

    @property
    def source(self):
        """The reduced expression of a single-value reduction."""
        if len(self.sources) != 1:
            raise ScheduleError(f"{self.reducer.name} reduces {len(self.sources)} values; they are .sources")
        return self.sources[0]

    def print_parts(self, fmt):
        axes = ", ".join(iv.name for iv in self.axis)
        cond = "" if isinstance(self.condition, Const) else f", where={fmt(self.condition)}"
        if len(self.sources) == 1:
            return f"{self.reducer.name}({fmt(self.source)}, axis=[{axes}]{cond})"
        sources = ", ".join(fmt(x) for x in self.sources)
        return f"{self.reducer.name}(({sources}), axis=[{axes}]{cond}).v{self.value_index}"


class Outputs(PrimExpr):
    """The bodies of a compute of several outputs as one node, for the lowering passes
    that walk, substitute and inline a stage's body (``values``: one per output)."""
    __slots__ = ("values",)
    _fields = ("values",)

    def __init__(self, values):
        self.values = tuple(values)
        self.dtype = self.values[0].dtype

    def print_parts(self, fmt):
        return f"({', '.join(fmt(v) for v in self.values)})"


def stage_body(op):
    """``op``'s body as one expression: its body, or :class:`Outputs` of its bodies."""
    return op.bodies[0] if len(op.bodies) == 1 else Outputs(op.bodies)


def check_reduce_placement(name, body):
    """A Reduce may only be the whole body of a compute, never nested inside it."""
    tops = (*body.sources, body.condition) if isinstance(body, Reduce) else (body,)

    def visit(n):
        if isinstance(n, Reduce):
            raise ScheduleError(f"compute {name}: a reduction must be the whole body, not part of {body}")
    for top in tops:
        walk(top, visit)


def iter_range(extent):
    return Range(Const(0, "int32"), convert(extent))
