"""Data parallelism: the batch split between the cores, each running its rows through
single-threaded kernels.

A step's forward and backward kernels mostly treat the rows of the batch independently
(``rows.classify`` proves it from each kernel's te definition); the few that combine
rows sum over them (a weight or bias gradient, a mean loss). Such a run of kernels
becomes a ``lanes`` node: thread ``t`` runs every kernel of the run, built for one
thread, on its own range of rows (``rows.restrict``), and each sum over rows leaves one
partial per lane, added up by an ``add_parts`` kernel after the parallel region (the
update pass then computes the optimizer update reading it in the same kernel). A kernel
that reads its own sums over rows together with the rows (a batch norm's mean and
variance) is cut after those sums into kernels that each split (``_cut``), so the run
continues in a new region once the sums are added up. Calls that read a sum, or combine
rows otherwise, or write in place (optimizer updates), run after the region as before,
reading whole arrays.

Why: with kernels parallel over each output, every kernel splits its rows between the
cores anyway, but each core then streams the whole step's activations (OVERFIT's 1024 x
256 floats are 1 MiB each) through caches shared by both, with a fork and join per
kernel; a lane keeps its half of the batch in its own core's L2 and synchronises once.
Measured (2-core Xeon, AVX-512, ``benchmarks/train_step.py``): the OVERFIT MLP's jit
step (batch 1024, Adam) 0.97 -> 0.66 ms, with BatchNorm1d 1.26 -> 0.98 ms, LeNet (batch
64) 0.84 -> 0.73 ms.

Rows are split into at most ``thread_count()`` lanes of at least ``MIN_ROWS`` rows (fewer
where more lanes would not pay: ``_lanes_that_pay``), at multiples
that keep every lane's first row 64-byte aligned in the arrays shared with the rest of
the step (which lanes read or write through ``view`` values).
"""
import math

import numpy as np

from ... import dispatch
from ....codegen.parallel import serial_builds, thread_count
from ....errors import TVMiniError
from ...dispatch import build_kernel, define_outputs
from .. import rows as R
from ..ir import CONST, GRAD_IN, INPUT, STATE, TEMP, VIEW, Node

#: Fewest rows per lane: below, a kernel's fixed costs outweigh the split.
MIN_ROWS = 32
#: How many times the bytes lanes pay in full the rows must weigh (``_lanes_that_pay``).
PAYS = 2
_OUTSIDE = (CONST, STATE, GRAD_IN)


def _batch(program):
    """The batch: the leading extent most of the step's tensor arguments share (the
    first argument's among equals), e.g. 1024 for images (1024, 2) and labels (1024,)."""
    inputs = sorted((v for v in program.values if v.kind == INPUT and v.shape), key=lambda v: v.binding)
    extents = [v.shape[0] for v in inputs]
    return max(extents, key=extents.count) if extents else None


def _definition(node):
    """(input specs, attrs, te outputs with placeholders) of a kernel call at full size;
    a product already split into parts by rows is taken whole (the lanes split it)."""
    attrs = tuple((k, v) for k, v in node.attrs if k != "parts")
    specs = [(v.shape, v.dtype) for v in node.inputs]
    placeholders, _, outs = define_outputs(node.define, specs, node.scalar_dtypes, attrs)
    return specs, attrs, placeholders, outs


def _row_inputs(node, row_axis, batch):
    """The batch axis (or "free", or None) of each of ``node``'s inputs, when it is a
    CPU kernel call that writes fresh arrays (its scalars may be per replay: a dropout
    seed) reading some array split by rows; else None."""
    if node.op == "copy" or node.inplace or node.lanes is not None or node.module.device.kind != "cpu":
        return None
    axes = [row_axis.get(v.id, "free" if v.kind in _OUTSIDE and batch in v.shape else None) for v in node.inputs]
    return axes if any(isinstance(a, int) for a in axes) else None


def _classify(node, row_axis, batch):
    """(input axes, output classes, whether a lane needs its first row: positional
    stages) when ``node`` runs in lanes, else None."""
    axes = _row_inputs(node, row_axis, batch)
    if axes is None:
        return None
    specs, attrs, placeholders, outs = _definition(node)
    try:
        cls = R.classify(outs, dict(zip(placeholders, axes)), batch)
    except R.NotSplittable:
        return None
    out_cls = [cls.get(o) for o in outs]
    if not (all(isinstance(c, int) for c in out_cls) or all(c == R.PARTIAL for c in out_cls)):
        return None
    return [cls.get(p) for p in placeholders], out_cls, bool(cls.positional)


def split_batch(program):
    """Run the row-independent kernels of ``program`` in batch lanes (module docstring)."""
    batch, threads = _batch(program), thread_count()
    lanes = min(threads, (batch or 0) // MIN_ROWS)
    if lanes < 2:
        return f"not split (batch {batch}, {threads} threads)"
    # value id -> batch axis (the step's tensor arguments with the batch's leading extent
    # to begin with); node id -> (input axes, output classes)
    row_axis = {v.id: 0 for v in program.values if v.kind == INPUT and v.shape and v.shape[0] == batch}
    plans, expanded, traced = {}, [], list(program.nodes)
    for node in traced:
        plan = _classify(node, row_axis, batch)
        for piece in ([node] if plan is not None else _cut(program, node, row_axis, batch) or [node]):
            if piece is not node:
                plan = _classify(piece, row_axis, batch)
            if plan is not None:
                plans[id(piece)] = plan
                for v, axis in zip(piece.inputs + piece.outputs, plan[0] + plan[1]):
                    if isinstance(axis, int):
                        row_axis.setdefault(v.id, axis)
            expanded.append(piece)
    program.nodes = expanded
    nodes, segment, after, made, runs = [], [], [], 0, 0
    pending = set()                         # values the next lanes node may not read: made after it
    for node in program.nodes + [None]:
        if node is not None and id(node) in plans and not any(v.id in pending for v in node.inputs):
            segment.append(node)
            pending |= _partials(node, plans)
            continue
        if node is None or id(node) in plans:
            runs += len(segment) >= 2
            if len(segment) >= 2 and _make_lanes(program, segment, after, plans, batch, lanes, nodes):
                made += 1
            else:
                nodes += segment + after
            segment, after = ([node] if node is not None else []), []
            pending = _partials(node, plans) if node is not None else set()
        elif segment:
            after.append(node)
            pending |= {v.id for v in node.outputs}
        else:
            nodes.append(node)
    program.nodes = nodes if made else traced      # no region: kernels cut for one stay whole
    if not made:
        return (f"not split: {runs} run(s) of kernels treat the {batch} rows independently, none weighs enough "
                f"rows to pay" if runs else f"not split: no run of kernels treats batch rows independently "
                f"(batch {batch})")
    regions = [n for n in nodes if n.lanes is not None]
    return (f"{sum(len(n.lanes[0]) for n in regions)} kernel calls run in {made} parallel region(s) of "
            f"{'/'.join(str(len(n.lanes)) for n in regions)} lanes of {batch} rows")


def _cut(program, node, row_axis, batch):
    """``node`` as kernels run one after another, cut after the sums over rows that
    keep it from splitting (``rows.cut_points``: a batch norm's mean and variance), so
    that each piece splits; None when it has no such cut. Between the pieces each sum
    is added up whole."""
    axes = _row_inputs(node, row_axis, batch)
    if axes is None:
        return None
    specs, attrs, placeholders, outs = _definition(node)
    try:
        cut, _ = R.cut_points(outs, dict(zip(placeholders, axes)), batch)
    except R.NotSplittable:
        return None
    pieces = R.pieces(outs, placeholders, cut)
    if not cut or len(pieces) < 2:
        return None
    tensors = [op.output(0) for op in R.ops_in_order(outs)]
    values = {("in", k): v for k, v in enumerate(node.inputs)}
    for ref in {ref for _, _, piece_outs in pieces for ref in piece_outs}:
        t = tensors[ref[1]]
        returned = [k for k, o in enumerate(outs) if o is t]
        values[ref] = node.outputs[returned[0]] if returned else program.new_value(
            tuple(int(d.value) for d in t.shape), t.dtype, TEMP)
    nodes = []
    for n, piece in enumerate(pieces):
        ins, outs_ = [values[ref] for ref in piece[1]], [values[ref] for ref in piece[2]]
        define = R.piece_define(node.define, specs, node.scalar_dtypes, attrs, piece)
        key = ("piece", node.module, n)
        entry = dispatch._KERNELS.get(key)
        if entry is None:
            try:
                entry = dispatch._KERNELS[key] = build_kernel(
                    f"{node.op}_piece{n}", define, [(v.shape, v.dtype) for v in ins], node.scalar_dtypes, (),
                    node.module.device, key)
            except TVMiniError:          # a schedule that cannot take the piece: keep the kernel whole
                return None
        piece_node = Node(f"{node.op}[{n}]", ins, outs_, define=define, module=entry[0], scalars=node.scalars,
                          scalar_dtypes=node.scalar_dtypes)
        nodes.append(piece_node)
    return nodes


def _partials(node, plans):
    """Ids of the sums over rows ``node`` makes (whole only after its lanes node)."""
    return {v.id for v, c in zip(node.outputs, plans[id(node)][1]) if c == R.PARTIAL}


def _make_lanes(program, segment, after, plans, batch, lanes, nodes):
    """Append the lanes node of ``segment``, the partial sums and ``after`` to ``nodes``;
    False (appending nothing) when the rows cannot be split."""
    made = {v.id for n in segment for v in n.outputs}
    inside = {id(n) for n in segment}
    read_outside = {v.id for n in program.nodes if id(n) not in inside for v in n.inputs}
    result = {v.id for v in program.outputs} | {v.id for _, v in program.grads if v is not None}
    shared = {}                        # row values the lanes reach through views: id -> value
    for node in segment:
        for v, axis in zip(node.inputs + node.outputs, plans[id(node)][0] + plans[id(node)][1]):
            if isinstance(axis, int) and (v.id not in made or v.id in read_outside or v.id in result
                                          or v.kind != TEMP):
                if axis != 0:
                    return False
                shared[v.id] = v
    lanes = _lanes_that_pay(segment, plans, lanes)
    if lanes < 2:
        return False
    row_bytes = [math.prod(v.shape[1:]) * _itemsize(v.dtype) for v in shared.values()]
    unit = math.lcm(1, *(64 // math.gcd(b, 64) for b in row_bytes))
    bounds = [min(batch, round(batch * k / lanes / unit) * unit) for k in range(lanes + 1)]
    bounds[-1] = batch
    if any(b - a < 1 for a, b in zip(bounds, bounds[1:])):
        return False
    ranges = [(a, b - a) for a, b in zip(bounds, bounds[1:])]
    local, partials, built = {}, {}, {}
    lane_calls = []
    for lane, (start, count) in enumerate(ranges):
        calls = []
        for node in segment:
            in_axes, out_cls, positional = plans[id(node)]

            def lane_value(v, axis):
                if isinstance(axis, int):
                    if v.id in shared:
                        view = program.new_value(_rows_shape(v.shape, axis, count), v.dtype, VIEW)
                        view.view_of = (v, start * math.prod(v.shape[1:]) * _itemsize(v.dtype))
                        return view
                    key = (v.id, lane)
                    if key not in local:
                        local[key] = program.new_value(_rows_shape(v.shape, axis, count), v.dtype, TEMP)
                    return local[key]
                if axis == R.PARTIAL:
                    partials.setdefault(v.id, (v, []))[1].append(program.new_value(v.shape, v.dtype, TEMP))
                    return partials[v.id][1][-1]
                return v
            ins = [lane_value(v, a) for v, a in zip(node.inputs, in_axes)]
            outs = [lane_value(v, c) for v, c in zip(node.outputs, out_cls)]
            call = Node(node.op, ins, outs, scalars=node.scalars, scalar_dtypes=node.scalar_dtypes)
            call.members, call.scalars_at_replay = node.members, node.scalars_at_replay
            first_row = start if positional else 0
            key = (id(node), count, first_row)
            if key not in built:
                try:
                    built[key] = _build_lane_kernel(node, in_axes, batch, count, first_row)
                except TVMiniError:        # a schedule that cannot take the lane's shape: keep it whole
                    return False
            call.define, call.module = built[key]
            calls.append(call)
        lane_calls.append(calls)
    outside_in = _unique(v for n in segment for v in n.inputs if v.id not in made)
    lanes_node = Node("lanes", outside_in, _unique([v for v in shared.values() if v.id in made] +
                                                  [p for _, ps in partials.values() for p in ps]))
    lanes_node.lanes, lanes_node.rows = lane_calls, ranges
    nodes.append(lanes_node)
    for whole, parts in partials.values():
        nodes.append(_sum_node(whole, parts, segment[0].module.device))
    nodes += after
    return True


def _lanes_that_pay(segment, plans, most):
    """How many lanes (at most ``most``) the rows outweigh: every lane pays in full for
    the arrays the run reads whole (weights: each lane reads and packs all of them) and
    for its sums over rows (each lane writes a whole partial, added up after). The rows'
    bytes must be at least ``PAYS`` times what all the lanes pay in full. Measured (2-core Xeon, AVX-512, whole
    steps): the OVERFIT MLP (rows 6x what its two lanes pay in full) 0.97 -> 0.66 ms;
    the MNIST MLP (784 -> 256 weights, batch 128: rows 0.2x) 0.54 -> 0.63 ms, so it is
    not split."""
    rows, whole = {}, {}
    for node in segment:
        in_axes, out_cls, _ = plans[id(node)]
        for v, axis in zip(node.inputs, in_axes):
            if isinstance(axis, int):
                rows[v.id] = v.nbytes
            elif axis is None:
                whole[v.id] = v.nbytes
        for v, c in zip(node.outputs, out_cls):
            if isinstance(c, int):
                rows[v.id] = v.nbytes
            else:
                whole[v.id] = v.nbytes
    return min(most, int(sum(rows.values()) // max(1, PAYS * sum(whole.values()))))


def _unique(values):
    seen = {}
    for v in values:
        seen.setdefault(v.id, v)
    return list(seen.values())


def _itemsize(dtype):
    return np.dtype(dtype).itemsize


def _rows_shape(shape, axis, count):
    """``shape`` with ``count`` rows on its batch ``axis`` (None: unchanged)."""
    return tuple(count if k == axis else d for k, d in enumerate(shape))


def _build_lane_kernel(node, in_axes, batch, rows, first_row):
    """(te definition, single-threaded kernel) of ``node`` on ``rows`` rows (from
    ``first_row`` on, for a positional kernel; else 0)."""
    specs, attrs, _, _ = _definition(node)
    define = R.lane_define(node.define, attrs, specs, in_axes, batch, rows, first_row)
    lane_specs = [(_rows_shape(shape, axis if isinstance(axis, int) else None, rows), dtype)
                  for (shape, dtype), axis in zip(specs, in_axes)]
    # the whole kernel identifies the definition: graph kernels are kept for the process
    key = ("lane", node.module, tuple(map(str, in_axes)), batch, rows, first_row)
    entry = dispatch._KERNELS.get(key)
    if entry is None:
        with serial_builds():
            entry = dispatch._KERNELS[key] = build_kernel("lane_" + "_".join(node.members), define, lane_specs,
                                                          node.scalar_dtypes, (), node.module.device, key)
    return define, entry[0]


def _sum_node(whole, parts, device):
    """``whole = parts[0] + parts[1] + ...`` (``topi.nn.add_parts``): the lanes' partial
    sums added up; the update pass may then compute an optimizer update with it."""
    specs = [(whole.shape, whole.dtype)] * len(parts)
    key = ("add_parts", tuple(specs), device)
    entry = dispatch._KERNELS.get(key)
    if entry is None:
        entry = dispatch._KERNELS[key] = build_kernel("add_parts", "add_parts", specs, (), (), device, key)
    node = Node("add_parts", parts, [whole], define="add_parts")
    node.module = entry[0]
    return node
