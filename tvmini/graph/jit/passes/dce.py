"""Dead-code elimination: drop pure calls whose results nothing uses.

Walking the nodes backwards from what the step returns and the gradients it leaves, a
pure node (no in-place write, no per-step scalars) is kept only if some later kept node,
the result or a gradient reads one of its outputs. Nodes with effects are always kept.
"""


def eliminate_dead_code(program):
    needed = {v.id for v in program.outputs} | {v.id for _, v in program.grads if v is not None}
    kept = []
    for node in reversed(program.nodes):
        if node.pure and not any(v.id in needed for v in node.outputs):
            continue
        kept.append(node)
        needed.update(v.id for v in node.inputs)
        if node.inplace:                      # it writes its outputs over values read before it
            needed.update(v.id for v in node.outputs)
    removed = len(program.nodes) - len(kept)
    program.nodes = kept[::-1]
    return f"removed {removed} unused calls"
