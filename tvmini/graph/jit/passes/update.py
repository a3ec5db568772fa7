"""Optimizer updates fused into the weight-gradient product.

An optimizer step is an in-place elementwise kernel per parameter that reads the
parameter's gradient. When that gradient is the output of a plain matrix product (the
``dW = dY^T @ X`` of a Linear layer), or the sum of a batch-lanes step's partial weight
gradients (``add_parts``: OVERFIT jit step 0.662 -> 0.635 ms), read by the update and by
nothing else in the step,
the two calls become one kernel with the gradient and the updated parameter and states
as outputs: the product's schedule computes the update block by block right after each
gradient block is stored (``topi.epilogue.attach_sibling_outputs``; a convolution's
weight, whose column blocks cut through its kernels' taps, row block by row block:
``topi.schedule_nn._update_by_rows``), so the gradient is not read back from memory by
a second kernel. The gradient is still stored: the step leaves it as the parameter's
``.grad``.

The merged call moves up to the earliest place it may run: right after the last call
before the update that reads or writes the parameter or its states (a layer's
``dX = dY @ W`` reads the old parameter), or where the product was. The backward pass
then consumes each layer's ``dY`` twice in a row, for ``dX`` and for ``dW`` with the
update, while it is still in cache, as an eager step does; left where the update was
(after the whole backward pass), every weight gradient read its ``dY`` and ``X`` back
from L3 and kept every activation alive to the end. Measured (2-core Xeon, AVX-512,
whole OVERFIT jit steps, both placements interleaved in one process, twice): 1.046 ->
1.023 and 1.060 -> 1.032 ms; its two 256x64 weight gradients with Adam 175-258 ->
106-171 us each, the arena 3080 -> 2560 KiB; the MNIST MLP within noise.
"""
from .... import topi
from ... import dispatch
from ...dispatch import build_kernel, define_outputs
from ..ir import OUTPUT, Node


def _product(node):
    """Whether ``node`` is a plain (unfused, scalar-free) matrix product call."""
    if node.op in ("copy", "lanes") or not node.pure or node.scalars or len(node.outputs) != 1 or node.recipe is not None:
        return False
    specs = [(v.shape, v.dtype) for v in node.inputs]
    outs = define_outputs(node.define, specs, (), node.attrs)[2]
    return len(outs) == 1 and outs[0].op.tag in ("gemm", "gemm_parts")


def _define(product, update, inputs, grad):
    """te definition of the merged call: ``(grad, *update outputs)`` from ``inputs``."""
    product_at = [inputs.index(v) for v in product.inputs]
    update_at = [None if v is grad else inputs.index(v) for v in update.inputs]

    def define(*args):
        placeholders, scalars = args[:len(inputs)], args[len(inputs):]
        g = _definition(product)(*[placeholders[k] for k in product_at], **dict(product.attrs))
        operands = [g if k is None else placeholders[k] for k in update_at]
        outs = _definition(update)(*operands, *scalars, **dict(update.attrs))
        return [g, *(outs if isinstance(outs, (list, tuple)) else [outs])]
    return define


def _definition(node):
    """The te definition a traced node calls (a topi function name or a function)."""
    return getattr(topi, node.define) if isinstance(node.define, str) else node.define


def fuse_updates(program):
    """Merge each optimizer update with the product computing the gradient it reads
    (conditions in the module docstring); returns the pass note."""
    readers = {}
    for k, node in enumerate(program.nodes):
        for v in node.inputs:
            readers.setdefault(v.id, set()).add(k)
    producer_of = {n.outputs[0].id: k for k, n in enumerate(program.nodes) if len(n.outputs) == 1}
    merged_at = {}
    for u_index, update in enumerate(program.nodes):
        if not update.inplace or update.scalars_at_replay is None or update.op == "copy":
            continue
        for grad in update.inputs:
            p_index = producer_of.get(grad.id)
            if (p_index is None or grad.kind != OUTPUT or readers.get(grad.id) != {u_index}
                    or grad.shape != update.outputs[0].shape or p_index in merged_at.values()):
                continue
            product = program.nodes[p_index]
            between = program.nodes[p_index + 1:u_index]
            overwritten = {v.id for n in between if n.inplace for v in n.outputs}
            if any(v.id in overwritten for v in product.inputs) or not _product(product):
                continue
            merged_at[u_index] = p_index
            break
    removed = set(merged_at) | set(merged_at.values())
    after = {}                              # original index -> merged calls placed right after it
    for u_index, p_index in merged_at.items():
        update = program.nodes[u_index]
        touched = {v.id for v in update.inputs + update.outputs}
        last = max((k for k in range(p_index + 1, u_index)
                    if any(v.id in touched for v in program.nodes[k].inputs + program.nodes[k].outputs)),
                   default=p_index)
        if last in removed and last != p_index:
            last = u_index                  # ordered against another merged call: keep the update's place
        after.setdefault(last, []).append(_merge(program.nodes[p_index], update))
    nodes = []
    for k, node in enumerate(program.nodes):
        if k not in removed:
            nodes.append(node)
        nodes.extend(after.get(k, ()))
    program.nodes[:] = nodes
    return f"fused {len(merged_at)} optimizer updates into their weight-gradient products"


def _merge(product, update):
    grad = product.outputs[0]
    inputs = list(product.inputs)
    for v in update.inputs:
        if v is not grad and all(v is not w for w in inputs):
            inputs.append(v)
    merged = Node("fused", inputs, [grad, *update.outputs], scalars=update.scalars,
                  scalar_dtypes=update.scalar_dtypes, inplace=True)
    merged.scalars_at_replay = update.scalars_at_replay
    merged.members = product.members + update.members
    merged.tag = "gemm"                      # a product with a (multi-output) epilogue
    merged.define = _define(product, update, inputs, grad)
    overwrites = (None,) + tuple(inputs.index(v) for v in update.outputs)
    specs = [(v.shape, v.dtype) for v in inputs]
    key = ("fused_update", tuple(merged.members), tuple(specs), merged.scalar_dtypes, product.define,
           product.attrs, update.define, update.attrs, overwrites, update.module.device)
    entry = dispatch._KERNELS.get(key)
    if entry is None:
        entry = dispatch._KERNELS[key] = build_kernel("fused_" + "_".join(merged.members), merged.define, specs,
                                                      merged.scalar_dtypes, (), update.module.device, key, overwrites)
    merged.module = entry[0]
    return merged
