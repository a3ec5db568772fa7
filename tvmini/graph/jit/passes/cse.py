"""Common-subexpression elimination: the same kernel on the same arrays runs once.

Two pure calls of one compiled kernel (same op, attributes, shapes and dtypes) with the
same scalars on the same input values — with no in-place write to any of those inputs
in between (each value carries a version bumped by every write) — compute the same
outputs; the second call is dropped and its readers read the first call's outputs.
"""
from ..ir import TEMP


def eliminate_common_subexpressions(program):
    version, seen, replace, kept = {}, {}, {}, []
    for node in program.nodes:
        node.inputs = [replace.get(v.id, v) for v in node.inputs]
        if node.pure and all(v.kind == TEMP for v in node.outputs):
            key = (id(node.module), tuple((v.id, version.get(v.id, 0)) for v in node.inputs), node.scalars)
            first = seen.get(key)
            if first is not None:
                replace.update({dup.id: orig for dup, orig in zip(node.outputs, first.outputs)})
                continue
            seen[key] = node
        for v in node.outputs if node.inplace else ():
            version[v.id] = version.get(v.id, 0) + 1
        kept.append(node)
    removed = len(program.nodes) - len(kept)
    program.nodes = kept
    program.outputs = [replace.get(v.id, v) for v in program.outputs]
    program.grads = [(ref, replace.get(v.id, v) if v is not None else None) for ref, v in program.grads]
    return f"merged {removed} repeated calls"
