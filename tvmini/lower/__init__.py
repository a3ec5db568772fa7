"""lower: schedule -> loop IR (``tm.lower``).

Steps, each in its own module: inline (``inline``), bound inference (``bound``), loop
nests (``nest``), virtual threads (``vthread``), then the tir passes (storage flattening, simplification).
"""
from ..errors import BuildError, ScheduleError
from ..te.schedule import Schedule
from ..te.tensor import ComputeOp, PlaceholderOp, Tensor, has_default_name
from ..tir import passes
from ..tir.expr import Var
from ..tir.functor import free_vars
from ..tir.simplify import simplify
from ..tir.stmt import Allocate, Buffer, PrimFunc, seq_of
from .bound import StageBounds, infer_region
from .inline import inline_bodies
from .inplace import check_inplace
from .nest import build_nest, read_ops
from .reads import read_checks
from .vthread import inject_virtual_threads


def _arg_buffers(sch, args):
    """Buffers for the tensor arguments (by current tensor), the symbolic extents, the
    scalar arguments."""
    if not isinstance(args, (list, tuple)) or not args:
        raise BuildError("lower/build needs a non-empty list of argument tensors")
    buffers, params = {}, []
    scalars = [a for a in args if isinstance(a, Var)]
    names = _argument_names(args)
    for t in args:
        if isinstance(t, Var):
            continue
        current = sch.tensor(t)
        if current in buffers:
            raise BuildError(f"tensor {t.name} appears twice in the arguments")
        buffers[current] = Buffer(names[t], current.shape, current.dtype)
        for extent in current.shape:
            for v in sorted(free_vars(extent), key=lambda v: v.name):
                if v not in params:
                    params.append(v)
    for v in scalars:
        if v in params:
            raise BuildError(f"argument {v.name} is an extent of an argument's shape; its value comes from "
                             "that shape, so leave it out of the arguments")
        if sum(v is w for w in scalars) > 1:
            raise BuildError(f"scalar {v.name} appears twice in the arguments")
    return buffers, params, scalars


def _argument_names(args):
    """The name of each tensor argument's buffer: its own, except that tensors
    left with a default name ("placeholder", "compute") that another argument also has
    get ``_1``, ``_2``, ... in argument order (deterministic, so equal schedules build
    equal code). Two different tensors the user gave one name is a BuildError."""
    tensors = []
    for t in args:
        if not isinstance(t, (Tensor, Var)):
            raise BuildError(f"argument {t!r} is neither a tensor nor a te.var")
        if isinstance(t, Tensor) and t not in tensors:
            tensors.append(t)
    taken, names = {t.name for t in tensors}, {}
    seen = {}
    for t in tensors:
        other = seen.setdefault(t.name, t)
        if other is t:
            names[t] = t.name
        elif has_default_name(t.op) and has_default_name(other.op):
            k = 1
            while f"{t.name}_{k}" in taken:
                k += 1
            names[t] = f"{t.name}_{k}"
            taken.add(names[t])
        else:
            raise BuildError(f"two different tensor arguments are both named {t.name!r}; give them different "
                             "names (name=...)")
    return names


def lower(sch, args, name="main", inplace=(), simple_mode=False):
    """Lower schedule ``sch`` with arguments ``args`` to a ``PrimFunc`` (print it to read it).

    ``inplace``: (output tensor, input tensor) pairs that may be given one buffer at
    call time (see :mod:`.inplace`); their buffers are not marked ``noalias``.
    ``simple_mode`` is TVM's keyword, accepted for its scripts: tvmini's printed form is
    always the simple one (the loops and stores, without TVM's attributes).
    """
    if not isinstance(sch, Schedule):
        raise BuildError(f"lower needs a te schedule, got {type(sch).__name__}")
    arg_buffers, params, scalars = _arg_buffers(sch, args)
    for op in sch.outputs:
        if not any(t in arg_buffers for t in op.outputs):
            raise BuildError(f"output {op.name} is not among the arguments {[t.name for t in args]}")
    stages = sch.stages
    bodies = inline_bodies(stages)
    live = [s for s in stages if s in bodies]
    for s in stages:
        if s not in bodies and _is_argument(s, arg_buffers):     # it would be left unwritten
            raise ScheduleError(f"stage {s.name} is inlined (compute_inline) but is an argument of the function; "
                                f"compute it (compute_root) or leave {s.name} out of the arguments")
    inplace = [(sch.tensor(out), sch.tensor(src)) for out, src in inplace]
    check_inplace(inplace, bodies, arg_buffers)

    readers = {s.op: [] for s in live}
    for s in live:
        for op in read_ops(bodies[s]):
            if isinstance(op, PlaceholderOp):
                if op.output(0) not in arg_buffers:
                    raise BuildError(f"placeholder {op.name} is read by {s.name} but is not among the arguments")
            else:
                readers[op].append(s)
    dead = _unread(live, readers, arg_buffers)
    live = [s for s in live if s not in dead]
    readers = {op: [r for r in rs if r not in dead] for op, rs in readers.items()}

    symbolic = set(params) | set(scalars)
    bounds, taken, order = {}, set(), _bounds_order(live)
    for s in order:
        region = infer_region(s, readers[s.op], bounds, symbolic)
        bounds[s] = StageBounds(s, bodies[s], region, taken)
        taken.update(bounds[s].loop_var.values())
    for s in order:
        for v in free_vars(bounds[s].reads):
            if v.name and v not in symbolic and v not in taken and _is_symbolic(v, stages):
                raise BuildError(f"stage {s.name} uses variable {v.name}, which no argument's shape determines; "
                                 "pass it among the arguments to make it a scalar argument")

    realized = {t: (buf, [0] * len(buf.shape)) for t, buf in arg_buffers.items()}
    fresh = {}       # stage -> the buffers it allocates (outputs that are not arguments)
    for s in live:
        if _is_argument(s, arg_buffers):
            if s.attach_type == "scope":
                raise ScheduleError(f"stage {s.name} is an argument of the function; it cannot be computed at "
                                    f"{s.attach_stage.name}.{s.attach_ivar.name}")
        elif s.attach_type == "with":
            raise ScheduleError(f"stage {s.name} is computed with {s.attach_stage.name} but is not an argument "
                                "of the function: compute_with is for outputs (use compute_at otherwise)")
        shape = [simplify(bounds[s].region[iv][1]) for iv in s.op.axis]
        for t in s.op.outputs:
            if t not in arg_buffers:
                realized[t] = (Buffer(s.name if s.op.num_outputs == 1 else t.name, shape, t.dtype, s.scope),
                               bounds[s].origin())
                fresh.setdefault(s, []).append(realized[t][0])
    attached, followers, roots, temporaries = {}, {}, [], []
    for s in _nest_order(live):
        buffers = [realized[t][0] for t in s.op.outputs]
        nest = build_nest(s, bounds[s], buffers, realized, attached, followers)
        if s.attach_type == "scope":
            attached.setdefault((s.attach_stage, s.attach_point()), []).append((fresh.get(s, []), nest))
        elif s.attach_type == "with":
            followers.setdefault((s.attach_stage, s.attach_point()), []).append(nest)
        else:
            roots.append(nest)
            temporaries += fresh.get(s, [])
    body = seq_of(roots)
    if any(t.thread_tag == "vthread" for s in live for t in s.bindings.values()):
        body = inject_virtual_threads(body)
    for buffer in reversed(temporaries):
        body = Allocate(buffer, body)
    signature = [a if isinstance(a, Var) else arg_buffers[sch.tensor(a)] for a in args]
    may_alias = [arg_buffers[t] for pair in inplace for t in pair]
    func = PrimFunc(name, [a for a in signature if not isinstance(a, Var)], params + scalars, body,
                    signature=signature, may_alias=may_alias, read_checks=read_checks(stages, symbolic))
    return passes.finalize(func)


def _is_argument(stage, arg_buffers):
    """Whether one of ``stage``'s outputs is an argument of the function (then the stage
    computes its whole domain at the top level or with another output)."""
    return any(t in arg_buffers for t in stage.op.outputs)


def _unread(live, readers, arg_buffers):
    """The stages whose values nothing uses: not an argument, and read by no stage but
    such stages. A cache_read copy whose reader an inlining made read the cached tensor
    only at indices the inlined body ignores (``P[i, J[j]]`` with ``P[i, j] = A[i, 0]``)
    is one: it has no consumer to size its region by, and computing it is wasted work."""
    dead, grown = set(), True
    while grown:
        grown = False
        for s in live:
            if s not in dead and not _is_argument(s, arg_buffers) and all(r in dead for r in readers[s.op]):
                dead.add(s)
                grown = True
    return dead


def _bounds_order(live):
    """Stages in the order their regions can be inferred: consumers before producers (a
    compute_at region comes from its consumer), and a ``compute_with`` stage right after
    the stage it is computed with (its region is that stage's block)."""
    order = [s for s in reversed(live) if s.attach_type != "with"]
    for s in live:
        if s.attach_type == "with":
            if any(t.attach_stage is s for t in live):
                raise ScheduleError(f"stage {s.name} is computed with {s.attach_stage.name}; no stage can be "
                                    f"computed inside it")
            parent = s.attach_stage
            if _reads(parent.op, s.op):
                raise ScheduleError(f"stage {s.name} is computed with {parent.name}, which reads it: a stage "
                                    f"computed with another runs after it in every block; compute {s.name} at "
                                    f"{parent.name} instead (compute_at)")
            leaves = parent.leaf_iter_vars
            first_reduce = next((i for i, iv in enumerate(leaves) if parent._is_reduce(iv)), len(leaves))
            if leaves.index(s.attach_point()) >= first_reduce:
                raise ScheduleError(f"stage {s.name} is computed with {parent.name} at loop "
                                    f"{s.attach_point().name}, inside {parent.name}'s reduction: it would read "
                                    "partial sums; pick a loop outside the reduce loops")
            order.insert(order.index(parent) + 1, s)
    return order


def _reads(consumer, producer):
    """Whether op ``consumer`` reads op ``producer``'s output, directly or through others."""
    seen, stack = set(), [consumer]
    while stack:
        for t in stack.pop().input_tensors:
            if t.op is producer:
                return True
            if t.op not in seen:
                seen.add(t.op)
                stack.append(t.op)
    return False


def _nest_order(live):
    """Stages in the order their loop nests are built: producers first, except that a
    ``compute_with`` stage comes before the stage it is computed with (whose nest
    includes it), in dataflow order among themselves."""
    order = [s for s in live if s.attach_type != "with"]
    for s in live:
        if s.attach_type == "with":
            order.insert(order.index(s.attach_stage), s)
    return order


def _is_symbolic(v, stages):
    """Whether ``v`` is a te.var (not the loop variable of some stage)."""
    for s in stages:
        if any(iv.var is v for iv in s.all_iter_vars):
            return False
        if isinstance(s.op, ComputeOp) and any(iv.var is v for iv in s.op.axis):
            return False
    return isinstance(v, Var)
