"""A structural fingerprint of a schedule and its arguments: the build memo's key.

``tm.build`` memoizes compiled kernels by this fingerprint, computed *before* lowering,
so building an equal schedule again costs a walk over the schedule instead of lowering
and LLVM IR generation. Two builds may share a kernel only if lowering gives them the
same loop IR, so the fingerprint records everything lowering reads:

* every stage, in order: its op's definition (name, tag, dtypes, axes with their domains,
  body expressions; not its ``attrs``, which only schedule rules read), scope, attach
  point (stage and axis), root/leaf/all iteration variables, relations (split with
  factor/nparts, fuse), loop kinds (vectorize, unroll, parallel) and thread bindings;
* the placeholders the bodies read (name, shape, dtype) and the schedule's outputs;
* the argument list (each tensor's name and the stage computing it, each te.var),
  and the in-place pairs as argument positions.

Variables, iteration variables and ops are identified by *identity*, as lowering does:
each gets a label at its first appearance (with its name and dtype), so a schedule
rebuilt from fresh te definitions gets the same text, while two distinct ``te.var("n")``
in one schedule stay distinct.

Anything the walk does not know — an object of another type, or an attribute on a stage,
schedule, op, axis or relation that did not exist when this was written — makes the
schedule *unkeyable* (:func:`schedule_key` returns None) and the build simply is not
memoized; a new schedule feature can therefore cost speed, never correctness, until it is
added here. The build options (name, target, fast-math, thread count) and versions are
added by the caller.
"""
from ..errors import ScheduleError
from ..te import operation as _ops
from ..te.relation import Fuse, Split
from ..te.schedule import Schedule, Stage
from ..te.tensor import ComputeOp, IterVar, PlaceholderOp, ProducerLoad, Reduce, Tensor
from ..tir.expr import Const, PrimExpr, Range, Var
from ..tir.stmt import ForKind

# The attributes each kind of object had when this walk was written (see the module doc).
_KNOWN = {
    Schedule: frozenset({"outputs", "stages", "stage_map", "history", "states"}),
    Stage: frozenset({"op", "origin_op", "schedule", "scope", "root_iter_vars", "leaf_iter_vars", "all_iter_vars",
                      "relations", "iter_kinds", "bindings", "attach_type", "attach_stage", "attach_ivar",
                      "history", "store_predicate"}),
    ComputeOp: frozenset({"name", "shape", "dtypes", "dtype", "outputs", "axis", "bodies", "tag", "attrs"}),
    PlaceholderOp: frozenset({"name", "shape", "dtypes", "dtype", "outputs"}),
    IterVar: frozenset({"dom", "var", "kind", "thread_tag"}),
    Split: frozenset({"parent", "outer", "inner", "factor", "nparts"}),
    Fuse: frozenset({"outer", "inner", "fused"}),
}
_REDUCERS = {id(r): r.name for r in _ops.BUILTIN_REDUCERS}
_SLOTS = {}            # expression class -> its slots except dtype, in MRO order


class _Unkeyable(Exception):
    """The schedule holds something this walk does not describe."""


def _check_known(obj):
    if vars(obj).keys() != _KNOWN[type(obj)]:
        raise _Unkeyable(type(obj).__name__)


def _slots(cls):
    slots = _SLOTS.get(cls)
    if slots is None:
        slots = _SLOTS[cls] = tuple(s for c in reversed(cls.__mro__) for s in c.__dict__.get("__slots__", ())
                                    if s != "dtype")
    return slots


class _Writer:
    """Appends the tokens (str and int) describing schedule parts to ``out``.

    The tokens form a prefix code, so equal token lists mean equal structures: every
    value starts with a str tag naming its kind (which fixes what follows) or is an int,
    the label of an object met before. An object's label is the number of objects
    labelled before it; its first appearance writes its description instead. Floats are
    written as ``repr`` strings (``0.0 == -0.0`` and ``1 == 1.0 == True`` in Python).
    """

    def __init__(self):
        self.out = []
        self.labels = {}           # id(object) -> label
        self.emit = self.out.append
        self.made = []             # objects made for the walk, alive until it ends: their ids stay unique

    def _labelled(self, obj):
        """Write ``obj``'s label and return True if it has one; else give it the next one."""
        key = id(obj)
        label = self.labels.get(key)
        if label is not None:
            self.emit(label)
            return True
        self.labels[key] = len(self.labels)
        return False

    def var(self, v):
        if not self._labelled(v):
            self.out += ("var", v.name, v.dtype)

    def iter_var(self, iv):
        if type(iv) is not IterVar:
            raise _Unkeyable(type(iv).__name__)
        if self._labelled(iv):
            return
        _check_known(iv)
        self.out += ("iv", iv.kind, str(iv.thread_tag))
        self.var(iv.var)
        self.value(iv.dom)

    def op(self, op):
        """Write ``op``: stage ops are labelled up front, placeholders at their first use."""
        label = self.labels.get(id(op))
        if label is not None:
            self.emit(label)
            return
        if type(op) is not PlaceholderOp:
            raise _Unkeyable(f"op {op.name} is read but computed by no stage")
        _check_known(op)
        self.labels[id(op)] = len(self.labels)
        self.out += ("input", op.name, op.dtype)
        self.value(op.shape)

    def value(self, x):
        """Write any value a schedule holds (dispatch on its exact type)."""
        write = _WRITE.get(type(x))
        if write is None:
            write = _writer_for(type(x))
        write(self, x)

    def _const(self, x):
        self.out += ("const", x.dtype, repr(x.value))

    def _sequence(self, x):
        self.out += ("tuple", len(x))
        for item in x:
            self.value(item)

    def _load(self, x):
        self.emit("load")
        self.op(x.tensor.op)
        self.value(x.tensor.value_index)
        self.value(x.indices)

    def _reduce(self, x):
        builtin = _REDUCERS.get(id(x.reducer))
        if builtin is not None:
            self.out += ("reduce", builtin, x.dtype)
        else:       # a te.comm_reducer: its combining expression(s) and identity
            self.out += ("custom reduce", x.reducer.name, x.dtype, repr(x.value_index))
            dtypes = tuple(v.dtype for v in x.sources)
            xs, ys = (tuple(Var(f"{c}{i}", d) for i, d in enumerate(dtypes)) for c in "xy")
            made = (x.reducer.combine_all(xs, ys), x.reducer.identities(dtypes))
            self.made.append(made)
            self.value(made[0])
            self.value(made[1])
        self.value(x.sources)
        self.value(x.axis)
        self.value(x.condition)

    def _expr(self, x):
        t = type(x)
        self.out += ("expr", t.__name__, x.dtype)
        for slot in _slots(t):
            self.value(getattr(x, slot))

    def _range(self, x):
        self.emit("range")
        self.value(x.min)
        self.value(x.extent)

    def _str(self, x):
        self.out += ("str", x)

    def _number(self, x):
        self.out += ("num", repr(x))

    def stage(self, stage):
        _check_known(stage)
        op = stage.op
        if type(op) is not ComputeOp:
            raise _Unkeyable(type(op).__name__)
        _check_known(op)
        self.out += ("stage", op.name, op.tag, stage.scope, stage.attach_type)
        self.op(op)
        for part in (op.dtypes, op.axis, op.bodies, op.shape, stage.all_iter_vars, stage.root_iter_vars, stage.leaf_iter_vars):
            self.value(part)
        self.out += ("relations", len(stage.relations))
        for rel in stage.relations:
            _check_known(rel)
            if type(rel) is Split:
                self.out += ("split", repr(rel.factor), repr(rel.nparts))
                ivs = (rel.parent, rel.outer, rel.inner)
            else:
                self.emit("fuse")
                ivs = (rel.outer, rel.inner, rel.fused)
            for iv in ivs:
                self.iter_var(iv)
        self.out += ("kinds", len(stage.iter_kinds))
        for iv, kind in stage.iter_kinds.items():
            if type(kind) is not ForKind:
                raise _Unkeyable(type(kind).__name__)
            self.iter_var(iv)
            self.emit(kind.name)
        self.out += ("bindings", len(stage.bindings))
        for iv, thread in stage.bindings.items():
            self.iter_var(iv)
            self.iter_var(thread)
        if stage.attach_stage is None:
            self.emit("none")
        else:
            self.op(stage.attach_stage.op)
        self.value(stage.attach_ivar)
        self.value(stage.store_predicate)


_WRITE = {Var: _Writer.var, Const: _Writer._const, tuple: _Writer._sequence, list: _Writer._sequence,
          ProducerLoad: _Writer._load, Reduce: _Writer._reduce, IterVar: _Writer.iter_var, Range: _Writer._range,
          str: _Writer._str, int: _Writer._number, float: _Writer._number, bool: _Writer._number,
          type(None): _Writer._number}


def _writer_for(cls):
    """The writer of a loop-IR expression class (found once per class), else unkeyable.

    Subclasses of Var or Const are unkeyable: a variable is known by identity, which the
    generic field walk would not see."""
    if not (issubclass(cls, PrimExpr) and cls.__module__ == Var.__module__) or issubclass(cls, (Var, Const)):
        raise _Unkeyable(cls.__name__)
    _WRITE[cls] = _Writer._expr
    return _Writer._expr


def _resolve(sch, tensor):
    """The op computing argument ``tensor`` in ``sch`` (as lowering resolves it)."""
    if type(tensor) is not Tensor:
        raise _Unkeyable(type(tensor).__name__)
    try:
        return sch.tensor(tensor).op
    except ScheduleError:
        raise _Unkeyable(f"tensor {tensor.name} is not in the schedule") from None


def schedule_key(sch, args, inplace=()):
    """A tuple naming (``sch``, ``args``, ``inplace`` pairs) exactly, or None when unkeyable.

    Equal keys mean lowering produces the same loop IR; see the module docstring.
    """
    if type(sch) is not Schedule or type(args) not in (list, tuple):
        return None
    w = _Writer()
    try:
        _check_known(sch)
        for index, stage in enumerate(sch.stages):
            if type(stage) is not Stage:
                raise _Unkeyable(type(stage).__name__)
            w.labels[id(stage.op)] = index
        for stage in sch.stages:
            w.stage(stage)
        w.out += ("outputs", len(sch.outputs))
        for op in sch.outputs:
            w.op(op)
        w.out += ("args", len(args))
        for arg in args:
            if type(arg) is Var:
                w.var(arg)
            else:
                op = _resolve(sch, arg)
                w.out += ("tensor", arg.name, repr(arg.value_index))
                w.op(op)
        position = {id(a): k for k, a in enumerate(args)}
        for out, src in inplace:
            for tensor in (out, src):
                w.out += ("inplace", repr(position.get(id(tensor))))
                w.op(_resolve(sch, tensor))
    except _Unkeyable:
        return None
    return tuple(w.out)
