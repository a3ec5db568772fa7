"""Relations between iteration variables, and the two walks over them.

``split`` and ``fuse`` do not rewrite loops; they record a ``Split``/``Fuse`` relation
between IterVars (as classic TVM does). Lowering walks the relations twice:

* downwards, from the root axes' ranges to the extents of every derived axis
  (``derived_extents``), and
* upwards, from loop-variable values at the leaves to the value of every root axis
  (``root_values``), collecting the guards that a non-divisible split needs.

Root axes range over ``[dom.min, dom.min + extent)``; every derived axis is zero-based.
"""
from ..errors import ScheduleError
from ..tir.expr import Const, FloorDiv, FloorMod, LT, convert
from ..tir.simplify import simplify


class Split:
    def __init__(self, parent, outer, inner, factor=None, nparts=None):
        self.parent, self.outer, self.inner = parent, outer, inner
        self.factor, self.nparts = factor, nparts


class Fuse:
    def __init__(self, outer, inner, fused):
        self.outer, self.inner, self.fused = outer, inner, fused


#: The largest index value: kernels index in int32.
INDEX_MAX = 2**31 - 1


def ceildiv(a, b):
    """``ceil(a / b)`` as a simplified expression (of constants, computed exactly: the
    int32 ``a + b - 1`` wraps for an extent near ``INDEX_MAX``)."""
    a = convert(a)
    if isinstance(a, Const) and isinstance(b, int):
        return Const(-(-a.value // b), a.dtype)
    return simplify((a + (b - 1)) // b)


def derived_extents(relations, root_extents):
    """Extent of every IterVar (dict IterVar -> expr), given the roots' extents."""
    ext = dict(root_extents)
    for rel in relations:
        if isinstance(rel, Split):
            parent = ext[rel.parent]
            if rel.factor is not None:
                ext[rel.outer] = ceildiv(parent, rel.factor)
                ext[rel.inner] = Const(rel.factor, "int32")
            else:
                ext[rel.outer] = Const(rel.nparts, "int32")
                ext[rel.inner] = ceildiv(parent, rel.nparts)
        else:
            ext[rel.fused] = simplify(ext[rel.outer] * ext[rel.inner])
    return ext


def root_values(relations, extents, leaf_values):
    """Zero-based offset of every IterVar from the leaves' values, and split guards.

    Returns ``(offsets, guards)`` where ``offsets`` maps each IterVar to an expression
    and ``guards`` lists ``(parent IterVar, condition)`` for every split whose extent
    the factor does not provably divide.
    """
    off = dict(leaf_values)
    guards = []
    for rel in reversed(relations):
        if isinstance(rel, Split):
            value = simplify(off[rel.outer] * extents[rel.inner] + off[rel.inner])
            off[rel.parent] = value
            _check_index_range(rel, extents)
            covered = simplify(extents[rel.outer] * extents[rel.inner] - extents[rel.parent])
            if not (isinstance(covered, Const) and covered.value == 0):
                guards.append((rel.parent, LT(value, extents[rel.parent])))
        else:
            inner_ext = extents[rel.inner]
            off[rel.outer] = simplify(FloorDiv(off[rel.fused], inner_ext, "int32"))
            off[rel.inner] = simplify(FloorMod(off[rel.fused], inner_ext, "int32"))
    return off, guards


def _check_index_range(split, extents):
    """A split of a constant extent whose rounded-up iterations reach past ``INDEX_MAX``
    would compute an int32 index that wraps (and passes the guard): refused."""
    outer, inner = extents[split.outer], extents[split.inner]
    if isinstance(outer, Const) and isinstance(inner, Const) and outer.value * inner.value - 1 > INDEX_MAX:
        raise ScheduleError(f"the split of axis {split.parent.name} (extent {extents[split.parent]}) runs "
                            f"{outer.value} x {inner.value} iterations, whose last index is past the int32 range "
                            f"of kernel indices ({INDEX_MAX}); pick a factor that divides the extent, or a power of two")


def depends_on(relations, leaf, roots):
    """Whether leaf IterVar ``leaf`` derives from any IterVar in ``roots``."""
    sources = {leaf}
    changed = True
    while changed:
        changed = False
        for rel in relations:
            if isinstance(rel, Split) and (rel.outer in sources or rel.inner in sources) and rel.parent not in sources:
                sources.add(rel.parent)
                changed = True
            elif isinstance(rel, Fuse) and rel.fused in sources and not {rel.outer, rel.inner} <= sources:
                sources |= {rel.outer, rel.inner}
                changed = True
    return bool(sources & set(roots))
