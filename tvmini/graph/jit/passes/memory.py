"""Memory planning: every temporary of the step gets an offset in one arena.

A temporary lives from the first node that touches it to the last; two temporaries may
share bytes only when those closed intervals are disjoint (so a kernel's output never
shares memory with its inputs). Inside a ``lanes`` node, whose lanes run at the same
time, a temporary of one lane alone lives from the first to the last call of that lane
touching it: it may share bytes with another of the same lane, never with one of
another lane or with anything the lanes node reads or writes. Placement is greedy,
largest first, each at the lowest 64-byte aligned offset clear of every already placed
temporary whose life overlaps its own. The program's ``memory`` records the bytes
without reuse and the arena's size.
"""
from ..ir import TEMP

ALIGN = 64


def _aligned(n):
    return -(-n // ALIGN) * ALIGN


def _extend(life, key, k):
    first, _ = life.get(key, (k, k))
    life[key] = (first, k)


def _lifetimes(program):
    """({temp id: (first, last) node}, {lane-only temp id: (node, lane, first, last call)})."""
    life, lane_life = {}, {}
    for k, node in enumerate(program.nodes):
        shared = {v.id for v in node.inputs + node.outputs}
        for v in node.inputs + node.outputs:
            if v.kind == TEMP:
                _extend(life, v.id, k)
        for lane, calls in enumerate(node.lanes or ()):
            for j, call in enumerate(calls):
                for v in call.inputs + call.outputs:
                    if v.kind == TEMP and v.id not in shared:
                        _extend(life, v.id, k)
                        first, _ = lane_life.get(v.id, (k, lane, j, j))[2:]
                        lane_life[v.id] = (k, lane, first, j)
    return life, lane_life


def plan_memory(program):
    life, lane_life = _lifetimes(program)

    def clash(a, b):
        if life[a][0] > life[b][1] or life[b][0] > life[a][1]:
            return False
        if a in lane_life and b in lane_life and lane_life[a][:2] == lane_life[b][:2]:
            return lane_life[a][2] <= lane_life[b][3] and lane_life[b][2] <= lane_life[a][3]
        return True
    temps = {v.id: v for node in program.nodes for call in [node] + (node.calls() if node.lanes else [])
             for v in call.inputs + call.outputs if v.kind == TEMP}
    placed, arena = [], 0
    for v in sorted(temps.values(), key=lambda v: (-v.nbytes, v.id)):
        size = _aligned(max(v.nbytes, 1))
        clashes = sorted((p.offset, p.offset + _aligned(max(p.nbytes, 1))) for p in placed if clash(v.id, p.id))
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
