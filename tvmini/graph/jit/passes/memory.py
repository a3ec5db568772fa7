"""Memory planning: every temporary of the step gets an offset in one arena.

A temporary lives from the first node that touches it to the last; two temporaries may
share bytes only when those closed intervals are disjoint (so a kernel's output never
shares memory with its inputs). Placement is greedy, largest first, each at the lowest
64-byte aligned offset clear of every already placed temporary whose life overlaps its
own. The program's ``memory`` records the bytes without reuse and the arena's size.
"""
from ..ir import TEMP

ALIGN = 64


def _aligned(n):
    return -(-n // ALIGN) * ALIGN


def plan_memory(program):
    life = {}
    for k, node in enumerate(program.nodes):
        for v in node.inputs + node.outputs:
            if v.kind == TEMP:
                first, _ = life.get(v.id, (k, k))
                life[v.id] = (first, k)
    temps = {v.id: v for node in program.nodes for v in node.inputs + node.outputs if v.kind == TEMP}
    placed, arena = [], 0
    for v in sorted(temps.values(), key=lambda v: (-v.nbytes, v.id)):
        lo, hi = life[v.id]
        size = _aligned(max(v.nbytes, 1))
        clashes = sorted((p.offset, p.offset + _aligned(max(p.nbytes, 1))) for p in placed
                         if life[p.id][0] <= hi and lo <= life[p.id][1])
        offset = 0
        for start, end in clashes:
            if offset + size <= start:
                break
            offset = max(offset, end)
        v.offset = offset
        placed.append(v)
        arena = max(arena, offset + size)
    before = sum(_aligned(max(v.nbytes, 1)) for v in temps.values())
    program.memory = (before, arena)
    program.arena_bytes = arena
    return f"{len(temps)} temporaries: {before / 1024:.1f} KiB without reuse -> {arena / 1024:.1f} KiB arena"
