"""Loop-nest construction for one stage: loops, guards, reduction init/update, attachments.

Guards (from non-divisible splits and from partial regions) sit right around the store,
so no iteration outside the domain reads or writes anything; a reduction's ``where``
condition sits on the innermost loop it reads, as that loop's bounds where it can
(``tir.loop_guards``). For a reduction the init is placed just outside the first loop
that runs over a reduce axis, inside the data-parallel loops that come after it (as
classic TVM does).
"""
from ..te.relation import depends_on
from ..te.tensor import Outputs, ProducerLoad, Reduce
from ..tir.expr import BufferLoad, Const, all_of
from ..tir.functor import Mutator, free_vars, substitute
from ..tir.loop_guards import conjuncts, guarded_loop
from ..tir.simplify import simplify
from ..tir.stmt import AllReduce, Allocate, Buffer, BufferStore, For, ForKind, IfThenElse, seq_of, stores_of


class BufferAccess(Mutator):
    """Turn ``T[idx]`` into a load of T's buffer, relative to the region T computes."""

    def __init__(self, realized):
        self.realized = realized      # tensor -> (Buffer, origin per axis)

    def visit_ProducerLoad(self, e):
        buffer, origin = self.realized[e.tensor]
        indices = [simplify(self.visit(i) - lo) for i, lo in zip(e.indices, origin)]
        return BufferLoad(buffer, indices)


def _guarded(stmt, guards):
    guards = [g for g in (simplify(g) for g in guards) if not (isinstance(g, Const) and g.value)]
    return IfThenElse(all_of(*guards), stmt) if guards else stmt


def _loop(stage, bounds, iv, body):
    bound = stage.bindings.get(iv)
    if bound is not None:
        return For(bounds.loop_var[iv], 0, bounds.extents[iv], ForKind.THREAD_BINDING, body, bound.thread_tag)
    return For(bounds.loop_var[iv], 0, bounds.extents[iv], stage.iter_kinds.get(iv, ForKind.SERIAL), body)


def _wrap(stage, bounds, leaves, inner, attached, followers=None):
    """Loops over ``leaves`` (outermost first) around ``inner``, with attached producers
    before it and ``compute_with`` stages (``followers``) after it."""
    for iv in reversed(leaves):
        producers = attached.get((stage, iv), [])
        after = followers.get((stage, iv), []) if followers else []
        body = seq_of([nest for _, nest in producers] + [inner] + after)
        for buffers, _ in reversed(producers):
            for buffer in reversed(buffers):
                body = Allocate(buffer, body)
        inner = _loop(stage, bounds, iv, body)
    return inner


def build_nest(stage, bounds, buffers, realized, attached, followers=None):
    """The complete loop nest that computes ``stage`` into ``buffers`` (one per output,
    whose origin is ``realized[output]``'s), with the nests of the stages attached to
    its loops."""
    access = BufferAccess(realized)
    body = bounds.reads
    index = [simplify(bounds.root_value[iv] - lo) for iv, lo in zip(stage.op.axis, realized[stage.op.output(0)][1])]
    values = body.values if isinstance(body, Outputs) else (body,)
    leaves = stage.leaf_iter_vars
    predicate = _store_predicate(stage, bounds, access)
    if not isinstance(values[0], Reduce):
        store = seq_of([BufferStore(b, access.visit(v), index) for b, v in zip(buffers, values)])
        return _wrap(stage, bounds, leaves, _guarded(store, bounds.guards + predicate), attached, followers)

    reduction = values[0]
    reduce_roots = stage.op.reduce_axis
    if any(depends_on(stage.relations, iv, reduce_roots) for iv in stage.bindings if iv in leaves):
        return _cross_thread_nest(stage, bounds, buffers, index, access, attached, followers, predicate)
    first = next((i for i, iv in enumerate(leaves) if depends_on(stage.relations, iv, reduce_roots)), len(leaves))
    reduce_vars = {bounds.loop_var[iv] for iv in leaves if depends_on(stage.relations, iv, reduce_roots)}
    guards = bounds.guards + predicate
    init_guards = [g for g in guards if not (free_vars(g) & reduce_vars)]
    init = seq_of([BufferStore(b, v, index) for b, v in zip(buffers, _identities(reduction))])
    init_nest = _wrap(stage, bounds, [iv for iv in leaves[first:] if bounds.loop_var[iv] not in reduce_vars],
                      _guarded(init, init_guards), {})
    current = [BufferLoad(b, index) for b in buffers]
    update = stores_of([(b, index) for b in buffers],
                       reduction.reducer.combine_all(current, [access.visit(x) for x in reduction.sources]))
    update_nest = _update_nest(stage, bounds, guards, leaves[first:], update, access.visit(reduction.condition),
                               attached, followers)
    return _wrap(stage, bounds, leaves[:first], seq_of([init_nest, update_nest]), attached, followers)


def _store_predicate(stage, bounds, access):
    """``[the stage's store predicate]`` over its loop variables (a thread axis's
    variable is the loop bound to it), or ``[]``."""
    if stage.store_predicate is None:
        return []
    vmap = {thread.var: bounds.loop_var[iv] for iv, thread in stage.bindings.items() if iv in bounds.loop_var}
    vmap.update((iv.var, bounds.loop_var[iv]) for iv in stage.leaf_iter_vars)
    vmap.update((iv.var, value) for iv, value in bounds.root_value.items())
    return [access.visit(substitute(stage.store_predicate, vmap))]


def _identities(reduction):
    """The identity element of ``reduction``'s reducer, one per value."""
    return reduction.reducer.identities([x.dtype for x in reduction.sources])


def _cross_thread_nest(stage, bounds, buffers, index, access, attached, followers, predicate):
    """A reduction with reduce axes bound to ``threadIdx.*`` (as TVM's cross-thread
    reduction): under the stage's other bound and serial data loops, each thread
    reduces its share (the serial reduce loops, moved innermost) into local
    accumulators (one per value of a tuple reducer), with every guard and the ``where``
    condition on the update (a thread with nothing to add keeps the identity); an
    :class:`AllReduce` combines the accumulators across the bound reduce axes' threads,
    outside every condition, since all threads of the block must reach its barriers;
    the thread at index 0 of those axes stores the result (where the store
    ``predicate``, a list of at most one condition, holds)."""
    body, leaves = bounds.reads, stage.leaf_iter_vars
    reduction = body.values[0] if isinstance(body, Outputs) else body
    reduce_roots = stage.op.reduce_axis
    is_reduce = {iv: depends_on(stage.relations, iv, reduce_roots) for iv in leaves}
    bound = [iv for iv in leaves if is_reduce[iv] and iv in stage.bindings]
    serial = [iv for iv in leaves if is_reduce[iv] and iv not in stage.bindings]
    reduce_vars = {bounds.loop_var[iv] for iv in leaves if is_reduce[iv]}
    zero = [Const(0, "int32")]
    accs = [Buffer(f"{stage.name}.red" + (f".v{i}" if len(buffers) > 1 else ""), (1,), b.dtype, "local")
            for i, b in enumerate(buffers)]
    current = [BufferLoad(acc, zero) for acc in accs]
    update = stores_of([(acc, zero) for acc in accs],
                       reduction.reducer.combine_all(current, [access.visit(x) for x in reduction.sources]))
    store_guards = [g for g in bounds.guards if not (free_vars(g) & reduce_vars)]
    store_guards += [bounds.loop_var[iv] == 0 for iv in bound] + predicate
    inner = seq_of([
        *(BufferStore(acc, v, zero) for acc, v in zip(accs, _identities(reduction))),
        _wrap(stage, bounds, serial, _guarded(_guarded(update, [access.visit(reduction.condition)]), bounds.guards),
              attached, followers),
        AllReduce(accs, reduction.reducer, [stage.bindings[iv].thread_tag for iv in bound]),
        _guarded(seq_of([BufferStore(b, c, index) for b, c in zip(buffers, current)]), store_guards),
    ])
    for acc in reversed(accs):
        inner = Allocate(acc, inner)
    return _wrap(stage, bounds, [iv for iv in leaves if iv not in serial], inner, attached, followers)


def _update_nest(stage, bounds, guards, loops, update, condition, attached, followers):
    """A reduction's ``update`` under ``loops``, where ``guards`` hold. Each conjunct of its ``where``
    ``condition`` is placed on the innermost loop whose variable it reads
    (:func:`~tvmini.tir.loop_guards.guarded_loop`: as that loop's bounds where it can be),
    so a condition on two reduction axes (a phased data gradient's kernel rows and
    columns) bounds both loops; unless a stage is attached at or inside the outermost
    of those loops: then the condition joins the other guards around the store.
    Conjuncts that read memory (``where=A[i, k] > 0``) are tested innermost, after
    every guard and the other conjuncts: a split's guard keeps their reads inside the
    tensor (the code generator evaluates both sides of an ``&&``)."""
    condition = simplify(condition)
    if isinstance(condition, Const) and condition.value:
        return _wrap(stage, bounds, loops, _guarded(update, guards), attached, followers)
    terms = conjuncts(condition)
    reading = [t for t in terms if _reads_memory(t)]
    update = _guarded(update, reading)
    by_depth = {}
    for term in terms:
        if any(term is t for t in reading):
            continue
        used = free_vars(term)
        depth = max((i for i, iv in enumerate(loops) if bounds.loop_var[iv] in used), default=-1)
        by_depth.setdefault(depth, []).append(term)
    if not by_depth:
        return _wrap(stage, bounds, loops, _guarded(update, guards), attached, followers)
    outermost = max(min(by_depth), 0)
    if any(attached.get((stage, iv)) or (followers and followers.get((stage, iv))) for iv in loops[outermost:]):
        hoisted = [t for depth in by_depth.values() for t in depth]
        return _wrap(stage, bounds, loops, _guarded(update, guards + hoisted), attached, followers)
    nest, inside = _guarded(update, guards), len(loops)
    for depth in sorted((d for d in by_depth if d >= 0), reverse=True):
        nest = _wrap(stage, bounds, loops[depth + 1:inside], nest, attached, followers)
        nest, inside = guarded_loop(_loop(stage, bounds, loops[depth], nest), all_of(*by_depth[depth])), depth
    nest = _wrap(stage, bounds, loops[:inside], nest, attached, followers)
    return IfThenElse(all_of(*by_depth[-1]), nest) if -1 in by_depth else nest


def _reads_memory(expr):
    """Whether ``expr`` loads from a buffer."""
    from ..tir.functor import walk
    found = []
    walk(expr, lambda n: found.append(n) if isinstance(n, BufferLoad) else None)
    return bool(found)


def read_ops(expr):
    """Ops whose tensors ``expr`` reads."""
    from ..tir.functor import walk
    found = []
    walk(expr, lambda n: found.append(n.tensor.op) if isinstance(n, ProducerLoad) and n.tensor.op not in found else None)
    return found
