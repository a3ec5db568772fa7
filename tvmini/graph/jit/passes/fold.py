"""Constant folding: a pure call whose inputs are all constants is replaced by its result.

Constants are arrays the step made from host data (``0.5`` as a tensor, the ones that
start ``backward()``) and never wrote. The trace already computed every node once, with
these same inputs and scalars, so the folded value is the array the trace produced;
the call disappears from every replay.
"""
from ..ir import CONST, TEMP


def fold_constants(program):
    written = {v.id for node in program.nodes if node.inplace for v in node.outputs}
    kept, folded = [], 0
    for node in program.nodes:
        if (node.pure and node.inputs and all(v.kind == CONST for v in node.inputs)
                and all(v.kind == TEMP and v.array is not None and v.id not in written for v in node.outputs)):
            for v in node.outputs:
                v.kind = CONST
            folded += 1
            continue
        kept.append(node)
    program.nodes = kept
    return f"folded {folded} calls on constants"
