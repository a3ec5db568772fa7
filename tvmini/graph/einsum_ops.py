"""``tm.einsum``: PyTorch's Einstein summation, lowered to the graph's own ops so that its
gradient comes from theirs and its contractions run the tuned GEMM kernels.

The equation is read into one list of index letters per operand (``...`` becomes
names of its own that no letter can equal, the operands' broadcast axes aligned on the
right) and the output's letters (given after ``->``, or PyTorch's implicit output: the
ellipsis axes, then the letters used once, in alphabetical order). Then, per operand: a
letter repeated within it keeps the diagonal (times an identity, summed over the
repeat); a letter no other operand and not the output uses is summed away. The operands
are then contracted left to right, two at a time, as one batched product: letters of
both that are still needed are the batch, letters of both that are not are the reduction
(``k``), the rest the rows of the left operand and the columns of the right one —
transposes and reshapes around ``matmul``. Size-1 axes broadcast against their letter's size, as PyTorch's.
"""
import math
import string

from ..errors import ShapeError
from . import ops
from .creation import eye
from .tensor import Tensor


def _parse(equation, operands):
    """(letters per operand, output letters) of ``equation``, ``...`` spelled out."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ShapeError(f"einsum: the equation {equation!r} names {len(terms)} operands, got {len(operands)}")
    spans = [t.ndim - (len(term) - 3) if "..." in term else 0 for term, t in zip(terms, operands)]
    width = max(spans, default=0)
    ellipsis = [f"...{k}" for k in range(width)]      # stand-ins no user letter can equal
    letters = []
    for term, t, span in zip(terms, operands, spans):
        if term.count("...") > 1 or any(c not in string.ascii_letters for c in term.replace("...", "")):
            raise ShapeError(f"einsum: bad operand term {term!r} in {equation!r} (letters and one '...' only)")
        head, _, tail = term.partition("...")
        names = list(head) + (ellipsis[width - span:] if "..." in term else []) + list(tail)
        if len(names) != t.ndim or span < 0:
            raise ShapeError(f"einsum: term {term!r} does not match an operand of shape {t.shape}")
        letters.append(names)
    if arrow:
        if rhs.count("...") > 1 or any(c not in string.ascii_letters for c in rhs.replace("...", "")):
            raise ShapeError(f"einsum: bad output term {rhs!r} in {equation!r}")
        head, dots, tail = rhs.partition("...")
        out = list(head) + (ellipsis if dots else []) + list(tail)
        used = {c for names in letters for c in names}
        if len(set(out)) != len(out) or any(c not in used for c in out):
            raise ShapeError(f"einsum: output {rhs!r} repeats a letter or names one no operand has")
    else:
        counts = {}
        for names in letters:
            for c in names:
                counts[c] = counts.get(c, 0) + 1
        out = ellipsis + sorted(c for c, n in counts.items() if n == 1 and c not in ellipsis)
    return letters, out


def _sizes(letters, operands):
    """Each letter's size: the one every operand agrees on, size 1 broadcasting."""
    sizes = {}
    for names, t in zip(letters, operands):
        for c, n in zip(names, t.shape):
            if sizes.get(c, 1) == 1:
                sizes[c] = n
            elif n not in (1, sizes[c]):
                what = "an axis of '...'" if c.startswith("...") else f"index {c!r}"
                raise ShapeError(f"einsum: {what} has sizes {sizes[c]} and {n} (operand of shape {t.shape})")
    return sizes


def _diagonal(t, names):
    """``t`` with each repeated letter's axes reduced to their diagonal."""
    while len(set(names)) != len(names):
        c = next(c for c in names if names.count(c) > 1)
        a, b = [k for k, x in enumerate(names) if x == c][:2]          # equal sizes: checked by _sizes
        mask = ops.cast(eye(t.shape[a], device=t.device), t.dtype)
        shape = [1] * t.ndim
        shape[a] = shape[b] = t.shape[a]
        t = ops.sum(t * ops.reshape(mask, tuple(shape)), b)
        names = names[:b] + names[b + 1:]
    return t, names


def _sum_out(t, names, keep):
    """``t`` summed over the letters not in ``keep``."""
    gone = [k for k, c in enumerate(names) if c not in keep]
    if gone:
        t = ops.sum(t, tuple(gone))
        names = [c for c in names if c in keep]
    return t, names


def _arranged(t, names, order, sizes):
    """``t`` transposed to the letters ``order`` and broadcast to their sizes."""
    t = ops.transpose(t, tuple(names.index(c) for c in order)) if names != order else t
    shape = tuple(sizes[c] for c in order)
    return ops.broadcast_to(t, shape) if t.shape != shape else t


def _contract(a, la, b, lb, needed, sizes):
    """The product of ``a`` (letters ``la``) and ``b`` (``lb``) over their shared letters
    not ``needed`` later: one batched matmul. Returns (tensor, letters)."""
    batch = [c for c in la if c in lb and c in needed]
    k = [c for c in la if c in lb and c not in needed]
    rows = [c for c in la if c not in lb]
    cols = [c for c in lb if c not in la]
    a = _arranged(a, la, batch + rows + k, sizes)
    b = _arranged(b, lb, batch + k + cols, sizes)
    dims = [math.prod(sizes[c] for c in group) for group in (batch, rows, k, cols)]
    product = ops.matmul(ops.reshape(a, (dims[0], dims[1], dims[2])), ops.reshape(b, (dims[0], dims[2], dims[3])))
    return ops.reshape(product, tuple(sizes[c] for c in batch + rows + cols)), batch + rows + cols


def einsum(equation, *operands):
    """Einstein summation over ``operands`` as ``equation`` says (PyTorch's
    ``torch.einsum``, also with the operands as one list): e.g. ``"bij,bjk->bik"``,
    ``"ii->i"`` (a diagonal), ``"...ij,...j->...i"``, ``"i,j"`` (implicit output)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands or not all(isinstance(t, Tensor) for t in operands):
        raise ShapeError(f"einsum: operands must be tensors, got {[type(t).__name__ for t in operands]}")
    letters, out = _parse(equation, operands)
    sizes = _sizes(letters, operands)
    tensors = []
    for k, (t, names) in enumerate(zip(operands, letters)):
        t, names = _diagonal(t, list(names))
        others = {c for j, other in enumerate(letters) if j != k for c in other}
        tensors.append(_sum_out(t, names, others | set(out)))
    result, names = tensors[0]
    for k in range(1, len(tensors)):
        later = {c for _, other in tensors[k + 1:] for c in other} | set(out)
        result, names = _contract(result, names, *tensors[k], later, sizes)
    result, names = _sum_out(result, names, set(out))
    return _arranged(result, names, out, sizes) if out else ops.reshape(result, ())
