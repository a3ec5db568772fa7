"""Epilogue fusion: elementwise work done on a matrix product's or a convolution's
register tile before it is stored.

A GEMM output (tag "gemm", see ``nn.gemm_stages``) and a conv2d output (tag "conv2d", see
``conv.conv2d``) are computed block by block from a local accumulator. When an
elementwise chain follows one — ``relu(x @ W.T + b)`` forward, ``relu_grad(g @ W, y)``
backward, ``relu(conv2d(x, w) + b)`` — :func:`fuse_epilogue` rewrites the chain's last
compute so that it reads the accumulator itself: every injective compute between them,
and the product's own crop-and-bias, is inlined into one compute with the product's
tag. The product's schedule rule then treats that compute as its output: the chain runs
on each block while it is still in registers, and neither the product nor any
intermediate is written to memory.

A kernel may also have *sibling outputs*: elementwise outputs of the product's shape
that read the product (and each other) at their own element, such as an optimizer
update after a weight-gradient product, which must store the gradient too.
:func:`attach_sibling_outputs` computes them with the product (``compute_with``), block
by block right after each block is stored, while it is still in cache.
"""
from ..lower.inline import Inliner
from ..te.tensor import ComputeOp, PlaceholderOp, ProducerLoad
from ..tir.expr import Const
from ..tir.functor import substitute, walk
from ..tir.simplify import is_const_int, simplify

#: Tags of the computes that may sit between the product and the fused output.
INJECTIVE_TAGS = ("elemwise", "broadcast", "injective")
#: Output tag of each product that takes an epilogue -> the tag of its accumulator.
PRODUCT_TAGS = {"gemm": "gemm_accum", "conv2d": "conv2d_accum"}


class _InlineChain(Inliner):
    """Inline every injective compute (and the product's output) reached from a body,
    each one's own body inlined first, on demand."""

    def __init__(self):
        super().__init__({})

    def visit_ProducerLoad(self, e):
        op = e.tensor.op
        if _inlinable(op) and op not in self.inlined:
            self.inlined[op] = ([iv.var for iv in op.axis], self.visit(op.body))
        return super().visit_ProducerLoad(e)


def _inlinable(op):
    return isinstance(op, ComputeOp) and not op.reduce_axis and (op.tag in INJECTIVE_TAGS or op.tag in PRODUCT_TAGS)


def fuse_epilogue(out):
    """``out`` computed as the epilogue of the one product (GEMM or conv2d) its
    elementwise chain reads, or ``out`` itself when that is not possible.

    Possible when ``out`` is an injective compute, the computes between it and the
    product are injective, exactly one product is reached, and once they are all
    inlined its accumulator is read only where the product itself reads it for
    ``out``'s element (same shape, no transpose or broadcast: :func:`_at_products_index`),
    so every output block needs exactly the accumulator block the product's schedule
    computes for it. The result is a new compute over ``out``'s
    axes, tagged like the product, that reads the accumulator.
    """
    op = out.op
    if not isinstance(op, ComputeOp) or op.reduce_axis or op.tag not in INJECTIVE_TAGS:
        return out
    chain = _InlineChain()
    body = chain.visit(op.body)
    products = [p for p in chain.inlined if p.tag in PRODUCT_TAGS]
    loads = _loads(body, _is_accumulator)
    if len(products) != 1 or len({load.tensor.op for load in loads}) != 1:
        return out
    (product,) = products
    if not all(_at_products_index(load.indices, product, op.axis) for load in loads):
        return out
    return ComputeOp(op.name, op.axis, body, product.tag).output(0)


def _is_accumulator(tensor):
    return getattr(tensor.op, "tag", None) in PRODUCT_TAGS.values()


def _loads(body, keep):
    """The loads in ``body`` of the tensors ``keep`` accepts."""
    found = []
    walk(body, lambda e: found.append(e) if isinstance(e, ProducerLoad) and keep(e.tensor) else None)
    return found


def _at_products_index(indices, product, axis):
    """Whether accumulator ``indices`` are where ``product`` (a product's output
    compute) reads its accumulator for the element at ``axis`` of the same shape: the
    axis variables themselves for an accumulator of the output's shape, the row-major
    position of the pixel for a pointwise convolution's GEMM (whose columns are the
    output's rows and columns of pixels); an extent-1 axis read at 0 counts as its own
    element (a broadcast read of it)."""
    if [str(iv.dom.extent) for iv in product.axis] != [str(iv.dom.extent) for iv in axis]:
        return False
    own = _loads(product.body, _is_accumulator)[0].indices
    unit = {iv.var: Const(0, iv.var.dtype) for iv in axis
            if isinstance(iv.dom.extent, Const) and iv.dom.extent.value == 1}
    renamed = {p.var: unit.get(a.var, a.var) for p, a in zip(product.axis, axis)}
    return len(indices) == len(own) and all(
        is_const_int(simplify(substitute(index, unit) - substitute(expected, renamed)), 0)
        for index, expected in zip(indices, own))


def _at_own_index(indices, axis):
    """Whether ``indices`` are the axis variables themselves (a broadcast read of an
    extent-1 axis, index 0, counts: it is the same element)."""
    return len(indices) == len(axis) and all(
        index is iv.var or (isinstance(iv.dom.extent, Const) and iv.dom.extent.value == 1
                            and isinstance(index, Const) and index.value == 0)
        for index, iv in zip(indices, axis))


def sibling_outputs(sch, out):
    """The stages of ``sch`` that can be computed with product output ``out`` block by
    block, in dataflow order: root outputs of ``out``'s shape, injective and without
    reductions, that read ``out`` or an earlier sibling, and read those and any other
    compute only at their own element."""
    shape = [str(d) for d in out.shape]
    siblings = {out.op}
    for stage in sch.stages:
        op = stage.op
        if (not stage.is_output or stage.attach_type != "root" or op is out.op or op.reduce_axis
                or op.tag not in INJECTIVE_TAGS or [str(d) for d in op.output(0).shape] != shape):
            continue
        loads = []
        walk(op.body, lambda e: loads.append(e) if isinstance(e, ProducerLoad) else None)
        computed = [ld for ld in loads if not isinstance(ld.tensor.op, PlaceholderOp)]
        if (any(ld.tensor.op in siblings for ld in computed)
                and all(ld.tensor.op in siblings and _at_own_index(ld.indices, op.axis) for ld in computed)):
            siblings.add(op)
    return [stage for stage in sch.stages if stage.op in siblings and stage.op is not out.op]


def attach_sibling_outputs(sch, out, loop, vectorize):
    """Compute every :func:`sibling_outputs` stage of product output ``out`` with it at
    ``loop`` (forgetting the loops another rule gave it), each with its innermost axis
    handed to ``vectorize(stage, axis)``."""
    for stage in sibling_outputs(sch, out):
        stage.reset_loops()
        stage.compute_with(sch[out], loop)
        vectorize(stage, stage.op.axis[-1])
