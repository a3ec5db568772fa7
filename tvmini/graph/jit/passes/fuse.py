"""Operator fusion: chains of elementwise kernels become one kernel, and an elementwise
chain after a matrix product becomes the product's epilogue.

A single-output call P that writes no array in place, whose output is read by exactly one later call C — and
nowhere else (not returned, not a gradient, no other reader; C may read it twice) — is
merged into C when C is an injective compute (every te stage tagged "elemwise",
"broadcast" or "injective", no reduction) of P's output shape, no call between them
overwrites one of P's inputs, and P is either

* injective too: the merged kernel's definition applies P's definition to its inputs
  and hands the resulting te tensor to C's definition in place of the value;
  ``topi.default_schedule`` then inlines P's stage into C's loop; or
* a product whose output is computed from a register accumulator (tagged "gemm":
  dense, matmul, batch_matmul; "conv2d"; or such a product already given an
  epilogue): the composed definition goes through ``topi.epilogue.fuse_epilogue``, so
  C runs on each register block of the product before it is stored
  (``relu(x @ W.T + b)``, ``relu_grad(g @ W, y)``, ``relu(conv2d(x, w) + b)``). Merged
  only when that rewrite applies (C reads the product at its own index).

Either way the intermediate array is never written to memory and one kernel call
replaces two. Calls whose scalars are drawn per replay (a dropout's seed) fuse too: the
merged call's scalars come from each member's own source (``ir.joined_replay``).
"""
from .... import topi
from ....topi.epilogue import INJECTIVE_TAGS, PRODUCT_TAGS, fuse_epilogue
from ... import dispatch
from ...dispatch import build_kernel, define_outputs
from ..ir import Node, TEMP, joined_replay

INJECTIVE = "injective"


def _recipe(node):
    """How to rebuild ``node``'s te: a list of members (define, attrs, input refs,
    scalar count, scalar dtypes); a ref is ("in", k) for the node's k-th input or
    ("member", j) for the output of member j."""
    if node.recipe is None:
        return [(node.define, node.attrs, [("in", k) for k in range(len(node.inputs))], node.scalar_dtypes)]
    return node.recipe


def _compose(recipe, epilogue=False):
    """A te definition ``define(*placeholders, *scalar_vars)`` evaluating ``recipe``; with
    ``epilogue``, its result is rewritten as the epilogue of the product it reads."""
    def define(*args):
        n_inputs = len(args) - sum(len(m[3]) for m in recipe)
        inputs, scalars = args[:n_inputs], list(args[n_inputs:])
        results = []
        for member_define, attrs, refs, scalar_dtypes in recipe:
            operands = [inputs[k] if kind == "in" else results[k] for kind, k in refs]
            mine, scalars = scalars[:len(scalar_dtypes)], scalars[len(scalar_dtypes):]
            if isinstance(member_define, str):
                member_define = getattr(topi, member_define)
            out = member_define(*operands, *mine, **dict(attrs))
            results.append(out if not isinstance(out, (list, tuple)) else out[0])
        return fuse_epilogue(results[-1]) if epilogue else results[-1]
    return define


def _outputs(node):
    specs = [(v.shape, v.dtype) for v in node.inputs]
    return define_outputs(node.define, specs, node.scalar_dtypes, node.attrs)[2]


def _kind(node, cache):
    """INJECTIVE when every compute of ``node``'s kernel is an injective, reduction-free
    stage; the product's tag (a key of PRODUCT_TAGS) when its one output is a product
    that takes epilogues; None otherwise."""
    if node.tag is not None:
        return node.tag
    if node.op == "copy" or node.inplace or len(node.outputs) != 1:
        return None
    key = id(node.module)
    if key not in cache:
        outs = _outputs(node)
        if len(outs) != 1:
            cache[key] = None
        elif outs[0].op.tag in PRODUCT_TAGS:
            cache[key] = outs[0].op.tag
        else:
            ok, stack, seen = True, [outs[0].op], set()
            while stack and ok:
                op = stack.pop()
                if op in seen or not hasattr(op, "bodies"):         # a placeholder
                    continue
                seen.add(op)
                ok = len(op.bodies) == 1 and op.tag in INJECTIVE_TAGS and not op.reduce_axis
                stack.extend(t.op for t in op.input_tensors)
            cache[key] = INJECTIVE if ok else None
    return cache[key]


def _merge(producer, consumer, value, fusion):
    """The node computing ``consumer`` with ``producer`` (which makes ``value``) inside;
    ``fusion`` is the producer's kind (INJECTIVE, or a product's tag for an epilogue).
    None when an epilogue cannot be formed."""
    inputs = list(producer.inputs)
    for v in consumer.inputs:
        if v is not value and all(v is not w for w in inputs):
            inputs.append(v)
    slot = {v.id: k for k, v in enumerate(inputs)}
    prod_recipe = [(d, a, [("in", slot[producer.inputs[k].id]) if kind == "in" else (kind, k) for kind, k in refs], s)
                   for d, a, refs, s in _recipe(producer)]
    shift = len(prod_recipe)
    cons_recipe = []
    for d, a, refs, s in _recipe(consumer):
        new_refs = []
        for kind, k in refs:
            if kind == "member":
                new_refs.append(("member", k + shift))
            elif consumer.inputs[k] is value:
                new_refs.append(("member", shift - 1))
            else:
                new_refs.append(("in", slot[consumer.inputs[k].id]))
        cons_recipe.append((d, a, new_refs, s))
    merged = Node("fused", inputs, consumer.outputs, scalars=producer.scalars + consumer.scalars,
                  scalar_dtypes=producer.scalar_dtypes + consumer.scalar_dtypes)
    merged.members = producer.members + consumer.members
    merged.scalars_at_replay = joined_replay(producer, consumer)
    merged.recipe = prod_recipe + cons_recipe
    merged.define = _compose(merged.recipe, epilogue=fusion != INJECTIVE)
    merged.tag = fusion
    merged.module = consumer.module          # until the fused kernel is built: its device
    if fusion != INJECTIVE and _outputs(merged)[0].op.tag != fusion:
        return None                          # the product is not read at the chain's own index
    return merged


def fuse_elementwise(program):
    cache, fused, rejected = {}, 0, set()
    changed = True
    while changed:
        changed = False
        readers = {}
        for k, node in enumerate(program.nodes):
            for v in node.inputs:
                readers.setdefault(v.id, set()).add(k)
        protected = {v.id for v in program.outputs} | {v.id for _, v in program.grads if v is not None}
        producer_of = {n.outputs[0].id: k for k, n in enumerate(program.nodes) if len(n.outputs) == 1}
        for c_index, consumer in enumerate(program.nodes):
            if _kind(consumer, cache) != INJECTIVE:
                continue
            for value in consumer.inputs:
                p_index = producer_of.get(value.id)
                if (p_index is None or value.kind != TEMP or value.id in protected or readers.get(value.id) != {c_index}
                        or p_index >= c_index):
                    continue
                producer = program.nodes[p_index]
                kind = _kind(producer, cache)
                if kind is None or producer.outputs[0].shape != consumer.outputs[0].shape:
                    continue
                between = program.nodes[p_index + 1:c_index]
                overwritten = {v.id for n in between if n.inplace for v in n.outputs}
                if any(v.id in overwritten for v in producer.inputs):
                    continue
                if (id(producer), id(consumer)) in rejected:
                    continue
                merged = _merge(producer, consumer, value, kind)
                if merged is None:
                    rejected.add((id(producer), id(consumer)))
                    continue
                program.nodes[c_index] = merged
                del program.nodes[p_index]
                fused += 1
                changed = True
                break
            if changed:
                break
    for node in program.nodes:
        if node.op == "fused":
            _build(node)
    epilogues = sum(node.tag in PRODUCT_TAGS and node.op == "fused" for node in program.nodes)
    return f"fused {fused} elementwise calls into their consumers ({epilogues} kernels are products " \
           f"with fused epilogues)"


def _build(node):
    """Compile a fused node's kernel (cached like every graph kernel)."""
    specs = [(v.shape, v.dtype) for v in node.inputs]
    device = node.module.device
    key = ("fused", tuple(node.members), tuple(specs), node.scalar_dtypes,
           tuple((d, dispatch.attrs_key(a), tuple(r)) for d, a, r, _ in node.recipe), device)
    entry = dispatch._KERNELS.get(key)
    if entry is None:
        entry = dispatch._KERNELS[key] = build_kernel("fused_" + "_".join(node.members), node.define, specs,
                                                      node.scalar_dtypes, (), device, key)
    node.module = entry[0]

