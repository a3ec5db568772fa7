"""PyTorch's strict spellings of the matrix product: ``mm`` (2-D), ``bmm`` (3-D, equal
batches), ``mv``, ``dot``, ``outer`` and the fused-looking ``addmm``/``baddbmm``
(``beta * input + alpha * product``).

Each checks its operands' ranks and shapes as PyTorch does (``matmul`` would broadcast
or treat a vector as a row; these refuse) and raises an error naming the op and both
shapes, then runs ``ops.matmul`` and so its blocked GEMM kernels and their gradients;
``outer`` is the broadcast product of a column and a row, as PyTorch defines it.
``addbmm`` sums a batch of products as one GEMM (the batch laid along the inner axis),
``addmv``/``addr`` add ``mv``/``outer``, ``vdot`` is ``dot`` (tvmini has no complex
numbers to conjugate) and ``chain_matmul`` multiplies in the cheapest order. The
``add*`` products have their in-place methods too (``x.addmm_(a, b)`` ...).
"""
import numpy as np

from ..errors import DTypeError, ShapeError
from . import ops
from .operands import broadcast_shapes, scaled
from .math_methods import _in_place
from .tensor import Tensor, add_methods


def _operands(op, a, b, ranks):
    """Refuse non-tensors, mixed devices or dtypes, and ranks other than ``ranks``."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise DTypeError(f"{op}: both operands must be tensors, got {type(a).__name__} and {type(b).__name__}")
    if (a.ndim, b.ndim) != ranks:
        raise ShapeError(f"{op}: expected {ranks[0]}-D and {ranks[1]}-D tensors, got shapes {a.shape} and {b.shape}")
    ops.check_same(op, a, b)


def _dims(shape):
    return "x".join(map(str, shape))


def mm(input, mat2):
    """The product of two matrices: (n, m) @ (m, p) -> (n, p)."""
    _operands("mm", input, mat2, (2, 2))
    if input.shape[1] != mat2.shape[0]:
        raise ShapeError(f"mm: mat1 and mat2 shapes cannot be multiplied ({_dims(input.shape)} and "
                         f"{_dims(mat2.shape)})")
    return ops.matmul(input, mat2)


def bmm(input, mat2):
    """The batched product of (b, n, m) and (b, m, p) tensors (no broadcasting)."""
    _operands("bmm", input, mat2, (3, 3))
    want = (input.shape[0], input.shape[2])
    if mat2.shape[:2] != want:
        raise ShapeError(f"bmm: expected the first two dimensions of batch2 (shape {mat2.shape}) to be {list(want)} "
                         f"for batch1 of shape {input.shape}")
    return ops.matmul(input, mat2)


def mv(input, vec):
    """The product of a matrix (n, m) and a vector (m,): shape (n,)."""
    _operands("mv", input, vec, (2, 1))
    if input.shape[1] != vec.shape[0]:
        raise ShapeError(f"mv: size mismatch, matrix of shape {input.shape} and vector of shape {vec.shape}")
    return ops.matmul(input, vec)


def dot(input, tensor):
    """The inner product of two 1-D tensors of one length: a 0-d tensor."""
    _operands("dot", input, tensor, (1, 1))
    if input.shape != tensor.shape:
        raise ShapeError(f"dot: inconsistent sizes: vectors of shapes {input.shape} and {tensor.shape} must have "
                         "the same number of elements")
    return ops.matmul(input, tensor)


def outer(input, vec2):
    """The outer product of two 1-D tensors: ``input[:, None] * vec2[None, :]``
    (dtypes promote as in a product)."""
    if not isinstance(input, Tensor) or not isinstance(vec2, Tensor) or input.ndim != 1 or vec2.ndim != 1:
        raise ShapeError(f"outer: expected two 1-D tensors, got {getattr(input, 'shape', type(input).__name__)} "
                         f"and {getattr(vec2, 'shape', type(vec2).__name__)}")
    return ops.mul(ops.reshape(input, (input.shape[0], 1)), ops.reshape(vec2, (1, vec2.shape[0])))


def _added(op, input, product, beta, alpha):
    """``beta * input + alpha * product`` with ``input`` broadcast to the product's
    shape; ``beta == 0`` ignores ``input``'s values (its NaNs too), as PyTorch."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"{op}: input must be a tensor, got {type(input).__name__}")
    ops.check_same(op, input, product)
    if broadcast_shapes(op, input.shape, product.shape) != product.shape:
        raise ShapeError(f"{op}: input of shape {input.shape} does not broadcast to the product's shape "
                         f"{product.shape}")
    product = scaled(op, product, alpha)
    return product if beta == 0 else ops.add(scaled(op, input, beta), product)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)`` for matrices (``input`` broadcasts)."""
    return _added("addmm", input, mm(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * bmm(batch1, batch2)`` (``input`` broadcasts)."""
    return _added("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * sum_b(batch1[b] @ batch2[b])``: the batch is moved next
    to the inner axis, (n, b*m) @ (b*m, p), so the sum is a single matrix product."""
    _operands("addbmm", batch1, batch2, (3, 3))
    b, n, m = batch1.shape
    if batch2.shape[:2] != (b, m):
        raise ShapeError(f"addbmm: batch1 of shape {batch1.shape} and batch2 of shape {batch2.shape} cannot be "
                         f"multiplied (batch2 must start with {(b, m)})")
    rows = ops.reshape(batch1.permute(1, 0, 2), (n, b * m))
    product = ops.matmul(rows, ops.reshape(batch2, (b * m, batch2.shape[2])))
    return _added("addbmm", input, product, beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat @ vec)`` (``input`` broadcasts to a vector)."""
    return _added("addmv", input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """``beta * input + alpha * outer(vec1, vec2)`` (``input`` broadcasts); unlike the
    matrix products', the three dtypes promote, as PyTorch's (a float64 ``input`` with
    float32 vectors gives float64)."""
    product = outer(vec1, vec2)
    if isinstance(input, Tensor):
        input, product = ops.promote("addr", input, product)
    return _added("addr", input, product, beta, alpha)


def vdot(input, other):
    """The inner product of two 1-D tensors (real tensors: ``dot``)."""
    _operands("vdot", input, other, (1, 1))
    return dot(input, other)


def chain_matmul(*matrices):
    """The product of 2-D tensors, in the order that needs the fewest multiplications
    (the classic dynamic programme over split points; the value is the same)."""
    if not matrices:
        raise ShapeError("chain_matmul: expected one matrix or more, got none")
    for k, m in enumerate(matrices):
        if not isinstance(m, Tensor) or m.ndim != 2:
            raise ShapeError(f"chain_matmul: argument {k} must be a 2-D tensor, got "
                             f"{getattr(m, 'shape', type(m).__name__)}")
    for a, b in zip(matrices, matrices[1:]):
        if a.shape[1] != b.shape[0]:
            raise ShapeError(f"chain_matmul: shapes {a.shape} and {b.shape} cannot be multiplied")
    if len(matrices) == 1:
        return ops.clone(matrices[0])
    dims = [matrices[0].shape[0]] + [m.shape[1] for m in matrices]
    count = len(matrices)
    cost = np.zeros((count, count))
    split = np.zeros((count, count), dtype=int)
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            options = [cost[i, k] + cost[k + 1, j] + dims[i] * dims[k + 1] * dims[j + 1] for k in range(i, j)]
            split[i, j] = i + int(np.argmin(options))
            cost[i, j] = min(options)

    def product(i, j):
        if i == j:
            return matrices[i]
        k = split[i, j]
        return mm(product(i, k), product(k + 1, j))
    return product(0, count - 1)


add_methods({
    "addbmm": lambda self, b1, b2, *, beta=1, alpha=1: addbmm(self, b1, b2, beta=beta, alpha=alpha),
    "addmv": lambda self, mat, vec, *, beta=1, alpha=1: addmv(self, mat, vec, beta=beta, alpha=alpha),
    "addr": lambda self, vec1, vec2, *, beta=1, alpha=1: addr(self, vec1, vec2, beta=beta, alpha=alpha),
    "vdot": lambda self, other: vdot(self, other),
    "mm": lambda self, mat2: mm(self, mat2),
    "bmm": lambda self, mat2: bmm(self, mat2),
    "mv": lambda self, vec: mv(self, vec),
    "dot": lambda self, other: dot(self, other),
    "outer": lambda self, vec2: outer(self, vec2),
    "addmm": lambda self, mat1, mat2, *, beta=1, alpha=1: addmm(self, mat1, mat2, beta=beta, alpha=alpha),
    "baddbmm": lambda self, b1, b2, *, beta=1, alpha=1: baddbmm(self, b1, b2, beta=beta, alpha=alpha),
})
add_methods({f"{name}_": _in_place(function, f"{name}_") for name, function in
             (("addbmm", addbmm), ("addmv", addmv), ("addr", addr), ("addmm", addmm), ("baddbmm", baddbmm))})
