"""Generic traversal of expressions and statements.

``Mutator`` rebuilds a tree bottom-up, calling ``visit_<ClassName>`` where a subclass
defines one (looked up along the class hierarchy, so ``visit_BinaryOp`` catches every
binary operator) and otherwise recursing through the node's ``_fields``. Nodes that did
not change are returned as they are, so untouched subtrees are shared, not copied.
"""
import copy

from .expr import PrimExpr, Var
from .stmt import SeqStmt, seq_of


class Mutator:
    _dispatch_cache: dict = {}

    def visit(self, node):
        if node is None:
            return None
        key = (type(self), type(node))
        meth_name = Mutator._dispatch_cache.get(key)
        if meth_name is None:
            meth_name = "generic"
            for cls in type(node).__mro__:
                if hasattr(self, "visit_" + cls.__name__):
                    meth_name = "visit_" + cls.__name__
                    break
            Mutator._dispatch_cache[key] = meth_name
        return getattr(self, meth_name)(node)

    def generic(self, node):
        changed = {}
        for field in node._fields:
            old = getattr(node, field)
            if isinstance(old, tuple):
                new = tuple(self.visit(x) for x in old)
                if all(a is b for a, b in zip(new, old)):
                    new = old
            else:
                new = self.visit(old)
            if new is not old:
                changed[field] = new
        if not changed:
            return node
        if isinstance(node, SeqStmt):
            return seq_of(changed["seq"])
        out = copy.copy(node)
        for field, value in changed.items():
            setattr(out, field, value)
        return out


class _Substitute(Mutator):
    def __init__(self, vmap):
        self.vmap = vmap

    def visit_Var(self, v):
        return self.vmap.get(v, v)


def substitute(node, vmap):
    """Replace variables by expressions (``vmap``: Var -> PrimExpr) throughout ``node``."""
    if not vmap:
        return node
    return _Substitute(vmap).visit(node)


def walk(node, fn):
    """Call ``fn`` on ``node`` and every expression/statement below it (pre-order)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        fn(n)
        for field in reversed(n._fields):
            child = getattr(n, field)
            if isinstance(child, tuple):
                stack.extend(reversed(child))
            else:
                stack.append(child)


def free_vars(node):
    """The set of ``Var`` objects that occur in ``node``."""
    found = set()
    walk(node, lambda n: found.add(n) if isinstance(n, Var) else None)
    return found


def uses_var(node, variables):
    """Whether any of ``variables`` occurs in ``node``."""
    return bool(free_vars(node) & set(variables))


def is_expr(node):
    return isinstance(node, PrimExpr)
