"""Schedule primitives that rewrite the dataflow graph: cache stages and rfactor.

Each one adds a stage and replaces some ops by new ones with the same axes. Consumers of
a replaced op are rebuilt to read the new tensor (``_replace_dataflow``), in dataflow
order so that chains of replacements settle in one pass. The user's tensors keep
working as handles: ``s[T]`` finds the stage through every op it ever had.
"""
from ..errors import ScheduleError
from ..tir.expr import And, Const, Range
from ..tir.functor import Mutator, substitute
from ..tir.simplify import simplify
from .relation import derived_extents, root_values
from .tensor import ComputeOp, IterVar, ProducerLoad, Reduce

_SCOPES = ("global", "shared", "local")


class _ReplaceTensors(Mutator):
    def __init__(self, tmap):
        self.tmap = tmap

    def visit_ProducerLoad(self, e):
        indices = tuple(self.visit(i) for i in e.indices)
        tensor = self.tmap.get(e.tensor, e.tensor)
        if tensor is e.tensor and all(a is b for a, b in zip(indices, e.indices)):
            return e
        return ProducerLoad(tensor, indices)


def _set_op(sch, stage, op):
    stage.op = op
    sch.stage_map[op] = stage


def _replace_dataflow(sch, tmap, only=None):
    """Make stages read ``tmap[t]`` wherever they read ``t``.

    ``tmap`` applies to the stages in ``only`` (all stages when None); the replacements
    this causes (a rebuilt op has a new output tensor) apply to every later stage.
    """
    derived = {}
    for stage in sch.stages:
        mapping = dict(derived)
        if only is None or stage in only:
            mapping.update(tmap)
        replace = _ReplaceTensors(mapping)
        old = stage.op
        bodies = [replace.visit(b) for b in old.bodies]
        if all(a is b for a, b in zip(bodies, old.bodies)):
            continue
        new = ComputeOp(old.name, old.axis, bodies, old.tag, old.attrs)
        _set_op(sch, stage, new)
        derived.update(zip(old.outputs, new.outputs))
        if old in sch.outputs:
            sch.outputs[sch.outputs.index(old)] = new


def _check_scope(scope, what):
    if scope not in _SCOPES:
        raise ScheduleError(f"{what}: unknown scope {scope!r}; use one of {_SCOPES}")


def _insert_stage(sch, op, before):
    from .schedule import Stage
    stage = Stage(op, sch)
    sch.stages.insert(sch.stages.index(before) if before is not None else len(sch.stages), stage)
    sch.stage_map[op] = stage
    return stage


def cache_read(self, tensor, scope, readers):
    """Copy ``tensor`` into a ``scope`` buffer that the ``readers`` read instead.

    Returns the cache tensor; schedule it (``compute_at``) to decide how much is copied
    at a time.
    """
    _check_scope(scope, f"cache_read of {tensor.name}")
    if not isinstance(readers, (list, tuple)):
        readers = [readers]
    reader_stages = [self[r] for r in readers]
    src = self.tensor(tensor)
    for st in reader_stages:
        if src not in st.op.input_tensors:
            raise ScheduleError(f"cache_read: stage {st.name} does not read {tensor.name}")
    axis = [IterVar(Range(0, ext), f"ax{i}", "data") for i, ext in enumerate(src.shape)]
    op = ComputeOp(f"{src.name}.{scope}", axis, ProducerLoad(src, [iv.var for iv in axis]))
    first = min(reader_stages, key=self.stages.index)
    stage = _insert_stage(self, op, first)
    stage.scope = scope
    _replace_dataflow(self, {src: op.output(0)}, only=set(reader_stages))
    stage._log("cache_read", f"{src.name} -> {op.name} for {[s.name for s in reader_stages]}")
    return op.output(0)


def cache_write(self, tensor, scope):
    """Compute ``tensor`` into a ``scope`` buffer first, then copy it to ``tensor``.

    The cache takes over the computation (and its reduce axes) with fresh data axes; the
    original stage becomes the copy and keeps ``tensor.op.axis``. Call it before other
    primitives on that stage. A compute of several outputs is cached whole; its cache
    tensors are returned as a tuple.
    """
    _check_scope(scope, f"cache_write of {tensor.name}")
    stage = self[tensor]
    if stage.relations or stage.iter_kinds or stage.bindings or stage.attach_type == "inline":
        raise ScheduleError(f"cache_write of {stage.name}: call it before other primitives on this stage")
    old = stage.op
    axis = [IterVar(Range(iv.dom.min, iv.dom.extent), iv.name + ".c", "data") for iv in old.axis]
    bodies = [substitute(b, {o.var: n.var for o, n in zip(old.axis, axis)}) for b in old.bodies]
    cache = ComputeOp(f"{old.name}.{scope}", axis, bodies, old.tag, old.attrs)
    cstage = _insert_stage(self, cache, stage)
    cstage.scope = scope
    copy = ComputeOp(old.name, old.axis, [ProducerLoad(t, [iv.var for iv in old.axis]) for t in cache.outputs],
                     old.tag)
    _set_op(self, stage, copy)
    stage.reset_loops()
    if old in self.outputs:
        self.outputs[self.outputs.index(old)] = copy
    _replace_dataflow(self, dict(zip(old.outputs, copy.outputs)))
    cstage._log("cache_write", f"{old.name} computed into {cache.name}")
    return _returned(cache)


def _returned(op):
    """What a primitive that made ``op`` returns: its tensor, or a tuple of its tensors."""
    return op.outputs if op.num_outputs > 1 else op.output(0)


def rfactor(self, tensor, axis, factor_axis=0):
    """Factor a reduction: reduce everything but ``axis`` into a new tensor indexed by it.

    ``axis`` is a reduce loop of ``tensor``'s stage (often the inner part of a split);
    the new tensor has ``axis``'s extent as dimension ``factor_axis``, and ``tensor``
    becomes a reduction of it over that dimension. Returns the new tensor (a tuple of
    them for a tuple reduction).
    """
    stage = self[tensor]
    old = stage.op
    first = old.bodies[0]
    if not isinstance(first, Reduce):
        raise ScheduleError(f"rfactor: stage {stage.name} is not a reduction")
    stage._leaf(axis, "rfactor")
    if not stage._is_reduce(axis):
        raise ScheduleError(f"rfactor: axis {axis.name} of stage {stage.name} is not a reduce axis")
    if not 0 <= factor_axis <= len(old.axis):
        raise ScheduleError(f"rfactor of {stage.name}: factor_axis {factor_axis} is outside 0..{len(old.axis)}")
    extents = derived_extents(stage.relations, {iv: iv.dom.extent for iv in stage.root_iter_vars})
    rf_axis = IterVar(Range(0, extents[axis]), axis.name + ".rf", "data")
    data_axes = [IterVar(Range(iv.dom.min, iv.dom.extent), iv.name, "data") for iv in old.axis]
    new_reduce = {iv: IterVar(Range(0, extents[iv]), iv.name, "reduce")
                  for iv in stage.leaf_iter_vars if stage._is_reduce(iv) and iv is not axis}
    leaf_values = {axis: rf_axis.var}
    leaf_values.update({iv: nv.var for iv, nv in new_reduce.items()})
    for iv in stage.leaf_iter_vars:
        leaf_values.setdefault(iv, Const(0, "int32"))
    offsets, guards = root_values(stage.relations, extents, leaf_values)
    vmap = {o.var: n.var for o, n in zip(old.axis, data_axes)}
    vmap.update({k.var: simplify(k.dom.min + offsets[k]) for k in old.reduce_axis})
    cond = substitute(first.condition, vmap)
    for parent, guard in guards:
        if parent in old.reduce_axis or stage._is_reduce(parent):
            cond = And(cond, guard)
    rf_all_axes = data_axes[:factor_axis] + [rf_axis] + data_axes[factor_axis:]
    sources = tuple(substitute(x, vmap) for x in first.sources)
    rf_op = ComputeOp(f"{old.name}.rf", rf_all_axes,
                      [Reduce(first.reducer, sources, list(new_reduce.values()), simplify(cond), i)
                       for i in range(len(sources))], old.tag)
    _insert_stage(self, rf_op, stage)
    k = IterVar(Range(0, extents[axis]), axis.name + ".v", "reduce")
    idx = [iv.var for iv in old.axis]
    idx.insert(factor_axis, k.var)
    partials = tuple(ProducerLoad(t, idx) for t in rf_op.outputs)
    new = ComputeOp(old.name, old.axis, [Reduce(first.reducer, partials, [k], None, i) for i in range(len(partials))],
                    old.tag)
    _set_op(self, stage, new)
    stage.reset_loops()
    if old in self.outputs:
        self.outputs[self.outputs.index(old)] = new
    _replace_dataflow(self, dict(zip(old.outputs, new.outputs)))
    stage._log("rfactor", f"{old.name} over {axis.name} -> {rf_op.name}")
    return _returned(rf_op)

