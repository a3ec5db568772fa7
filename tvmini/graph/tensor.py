"""Tensor: an NDArray on a device plus what autodiff needs (``requires_grad``, ``.grad``).

The API is PyTorch-shaped: Python operators broadcast like numpy and accept Python
numbers; elementwise methods (``.exp() .relu() ...``), reductions (``.sum .mean .max``),
shape methods (``.reshape .transpose .T`` and basic indexing) and ``@`` all run as
compiled kernels through :mod:`tvmini.graph.ops`. ``backward()`` differentiates a scalar
(or, given a head gradient, any tensor) with respect to every leaf that requires a grad.
"""
import copy

import numpy as np

from ..errors import AutogradError, DTypeError, ShapeError, TVMiniError
from ..runtime import NDArray, as_device
from ..runtime import ndarray as nd
from . import autograd
from . import axes as axes_
from .conversion import as_ndarray


class Tensor:
    """A tensor on a device: ``_data`` (an :class:`NDArray`), ``requires_grad`` and ``grad``.

    Make tensors with :func:`tensor` and the creation helpers; ops on tensors that
    require a gradient record themselves so :meth:`backward` can differentiate them.
    """

    # _aliased: a copy where PyTorch's op returns a view (x[0], x.reshape(..)): writing
    # into it raises rather than silently leave the source unchanged (see ops.aliased)
    __slots__ = ("_data", "requires_grad", "grad", "_ctx", "_aliased", "__weakref__")

    def __init__(self, data, requires_grad=False):
        if not isinstance(data, NDArray):
            data = _as_ndarray(data, None, None)
        self._data = data
        self.grad = None
        self._ctx = None
        self._aliased = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data):
        """A Tensor around an NDArray, without checks (the ops' hot path)."""
        t = object.__new__(Tensor)
        t._data, t.requires_grad, t.grad, t._ctx, t._aliased = data, False, None, None, False
        return t

    # ---- properties -------------------------------------------------------------------
    @property
    def data(self):
        """PyTorch's ``.data``: a tensor sharing this one's memory that records no history
        and does not require grad, so ``p.data.fill_(1)``, ``p.data.mul_(0.9)`` or
        ``q.data.copy_(p.data)`` write into ``p`` itself, in grad mode too. Unlike
        PyTorch's, its writes are seen by autodiff (the array's version moves on): one
        over a value saved for a gradient makes ``backward()`` raise instead of giving a
        wrong gradient."""
        out = Tensor._wrap(self._data)
        out._aliased = self._aliased
        return out

    @data.setter
    def data(self, value):
        """``t.data = other`` makes ``t`` hold tensor ``other``'s data (shared; its shape,
        dtype and device may differ, as in PyTorch) or an NDArray; anything else is a
        DTypeError (stored as is, it broke the next op far away)."""
        data = value._data if isinstance(value, Tensor) else value
        if not isinstance(data, NDArray):
            raise DTypeError(f"Tensor.data takes a Tensor (or an NDArray), got {type(value).__name__}")
        if self.requires_grad and not data.dtype.startswith("float"):
            raise DTypeError(f"Tensor.data: a tensor that requires grad holds floating-point data, not "
                             f"{data.dtype} (call requires_grad_(False) first)")
        self._data = data

    @property
    def shape(self):
        """The shape, a tuple of ints."""
        return self._data._shape

    @property
    def dtype(self):
        """The dtype name, e.g. "float32"."""
        return self._data.dtype

    @property
    def device(self):
        """The :class:`~tvmini.runtime.Device` holding the data."""
        return self._data._device

    @property
    def ndim(self):
        return len(self._data._shape)

    def size(self, dim=None):
        """The shape (PyTorch's ``x.size()``), or the extent of axis ``dim``."""
        if dim is None:
            return self._data._shape
        return self._data._shape[axes_.axis("size", dim, self._data._shape)] if self._data._shape else 1

    def data_ptr(self):
        """The address of the first element (PyTorch's ``data_ptr()``): tensors sharing
        memory (``p.data``, ``copy.copy``) give the same."""
        return self._data.data_ptr

    def numel(self):
        """The number of elements."""
        return self._data.size

    def dim(self):
        """The number of axes (PyTorch's name for ``ndim``)."""
        return len(self._data._shape)

    @property
    def is_leaf(self):
        """True for tensors not produced by a recorded op (parameters, inputs)."""
        return self._ctx is None

    @property
    def grad_fn(self):
        """The recorded op that produced this tensor, or None."""
        return self._ctx

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        """The rows ``self[0], self[1], ...`` (so ``list(t)``, ``a, b = t`` and ``sorted(t)``
        work as in PyTorch); a 0-d tensor is not iterable."""
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def requires_grad_(self, flag=True):
        """Set ``requires_grad`` in place (floating-point tensors only; turned off only on
        leaves, as PyTorch: a computed tensor is cut off with ``detach()``); returns self."""
        if flag and not self.dtype.startswith("float"):
            raise DTypeError(f"only floating-point tensors can require gradients, not {self.dtype} "
                             f"tensor of shape {self.shape}")
        if not flag and self._ctx is not None:
            raise AutogradError(f"requires_grad_(False): a tensor of shape {self.shape} computed by an op is not a "
                                "leaf; use .detach() for a copy of it that requires no gradient")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep this computed tensor's gradient in ``.grad`` at the next ``backward()``
        (accumulating, as a leaf's); a no-op on leaves, which always keep theirs."""
        if not self.requires_grad:
            raise AutogradError(f"retain_grad: a tensor of shape {self.shape} that does not require a gradient has "
                                "none to retain")
        if self._ctx is not None:
            self._ctx.retains_grad = True

    retains_grad = property(lambda self: bool(self._ctx is not None and self._ctx.__dict__.get("retains_grad")),
                            doc="Whether ``retain_grad()`` was called on this computed tensor (False on leaves).")

    # ---- host access ------------------------------------------------------------------
    def numpy(self):
        """A numpy copy of the data (PyTorch: tensors that require grad need ``detach``
        first; here reading values is always allowed and never records history)."""
        return self._data.numpy()

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ShapeError(f"item() needs a one-element tensor, got shape {self.shape}")
        hook = nd.thread_hooks.trace
        if hook is not None:
            hook("read", self._data, None)
        return self._data._storage.host_view().reshape(-1)[0].item()

    def tolist(self):
        return self._data._storage.host_view().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        """An integer or bool tensor of one element as a Python int, so that it indexes a
        list or sizes a ``range`` (``Subset(ds, indices)[i]`` with a tensor of indices), as
        PyTorch's; a float or larger tensor is refused (a DTypeError, so a TypeError)."""
        if self.dtype.startswith("float") or self._data.size != 1:
            raise DTypeError(f"only integer tensors of a single element can be converted to an index, got a "
                             f"{self.dtype} tensor of shape {self.shape}")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise TVMiniError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.item())

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def __repr__(self):
        extra = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self._data._storage.host_view(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}, device={self.device}{extra})"

    # ---- autodiff ---------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Accumulate the gradient of this tensor into every leaf that requires one.

        A one-element tensor may omit ``grad`` (it defaults to 1); any other tensor needs
        a head gradient of its own shape. The recorded graph is freed afterwards, so a
        second backward through it raises an AutogradError, unless ``retain_graph=True``
        keeps it (and what its ops saved) for another backward, as in PyTorch.
        ``create_graph=True`` (a backward that records itself, for higher-order
        gradients) is not supported and raises an AutogradError.
        """
        if create_graph:
            raise AutogradError(f"backward(create_graph=True) on a tensor of shape {self.shape}: higher-order "
                                "gradients are not supported (tvmini computes gradients without recording them); "
                                "call backward() without create_graph")
        if not self.requires_grad:
            raise TVMiniError(f"backward(): tensor of shape {self.shape} does not require grad "
                              "(no input of the computation has requires_grad=True)")
        if grad is None:
            if self._data.size != 1:
                raise ShapeError(f"backward() on a tensor of shape {self.shape} needs a head gradient "
                                 "of the same shape (only one-element outputs default to 1)")
            grad = Tensor._wrap(nd.array(np.ones(self.shape, self.dtype), device=self.device))
        else:
            grad = grad if isinstance(grad, Tensor) else tensor(grad, dtype=self.dtype, device=self.device)
            if grad.shape != self.shape or grad.dtype != self.dtype:
                raise ShapeError(f"backward(): head gradient {grad.dtype}{list(grad.shape)} does not match "
                                 f"the tensor {self.dtype}{list(self.shape)}")
        autograd.backward(self, grad, retain_graph=bool(retain_graph))

    # ---- copies and pickles (PyTorch's rules) ------------------------------------------
    def __deepcopy__(self, memo):
        """An independent leaf of this tensor's class (a Parameter stays one), with copies
        of the data and ``.grad`` and the same ``requires_grad``; only leaves, as PyTorch:
        the copy of a computed tensor would have no history to differentiate through."""
        if self._ctx is not None:
            raise AutogradError(f"deepcopy of a tensor of shape {self.shape} computed by an op: only leaf "
                                "tensors (parameters, inputs) are deep-copied; detach() or clone() it first")
        out = _rebuild(type(self), copy.deepcopy(self._data, memo), self.requires_grad)
        memo[id(self)] = out
        out.grad = copy.deepcopy(self.grad, memo)
        return out

    def __reduce__(self):
        """Pickled as its class, data (values and device) and ``requires_grad``, without
        history or ``.grad`` (as PyTorch); ``copy.copy`` shares the data, as PyTorch's."""
        return _rebuild, (type(self), self._data, self.requires_grad)

    def detach(self):
        """A tensor sharing this data that records no history."""
        out = Tensor._wrap(self._data)
        out._aliased = self._aliased
        return out

    def zero_(self):
        """Fill with zeros in place (no history), under the assignment rules of
        ``__setitem__`` (a leaf that requires grad only under ``tm.no_grad()``, as
        PyTorch); returns self."""
        ops.indexing._check_writable(self, None, "in-place zero_")
        self._data.copyfrom(np.zeros(self.shape, self.dtype))
        ops.indexing.write_through(self)
        return self

    def copy_(self, src):
        """Copy ``src`` (a Tensor or array of the same shape) into this tensor in place,
        under the assignment rules of ``__setitem__`` (see ``zero_``)."""
        ops.indexing._check_writable(self, src, "in-place copy_")
        data = src._data if isinstance(src, Tensor) else nd.array(np.asarray(src, dtype=self.dtype))
        if data.shape != self.shape:
            raise ShapeError(f"copy_(): source shape {data.shape} does not match {self.shape}")
        if data.dtype != self.dtype:
            data = nd.array(data.numpy().astype(self.dtype))
        self._data.copyfrom(data)
        ops.indexing.write_through(self)
        return self

    def to(self, device=None, dtype=None, non_blocking=False, copy=False):
        """This tensor on ``device`` and/or converted to ``dtype``, with PyTorch's overloads
        ``to(device, dtype)``, ``to(dtype)`` and ``to(other)`` (its device and dtype); self
        if nothing changes, unless ``copy``. (Copies are synchronous: ``non_blocking``.)"""
        if isinstance(device, Tensor):
            device, dtype = device.device, device.dtype
        elif dtype is None and nd.is_dtype(device):
            device, dtype = None, device
        out = self
        if dtype is not None and nd.dtype_name(dtype) != self.dtype:
            out = out.astype(dtype)
        if device is not None:
            device = as_device(device)
            if device != out.device and out.requires_grad and not out.is_leaf:
                out = _ToDevice.apply(out, device=device)
            elif device != out.device:
                moved = Tensor._wrap(out._data.copyto(device))
                moved.requires_grad = out.requires_grad
                out = moved
        return self.clone() if copy and out is self else out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def clone(self):
        """A copy of the data, differentiable as PyTorch's (see ``ops.clone``)."""
        return ops.clone(self)

    # ---- operators (see ops.py) -------------------------------------------------------
    # An operand that is not a tensor, a number or an array of numbers (None, a string)
    # makes the operator return NotImplemented, so Python raises its TypeError (and
    # ``x == None`` is False) as with PyTorch, instead of computing with NaN.
    # ``__array_ufunc__ = None`` makes numpy do the same on its side: ``np.float64(2) * x``
    # calls ``x.__rmul__`` (a Tensor that keeps its history), not numpy's multiply.
    __array_ufunc__ = None

    def __add__(self, other): return ops.add(self, other) if _operand(other) else NotImplemented
    def __radd__(self, other): return ops.add(self, other) if _operand(other) else NotImplemented
    def __sub__(self, other): return ops.sub(self, other) if _operand(other) else NotImplemented
    def __rsub__(self, other): return ops.rsub(self, other) if _operand(other) else NotImplemented
    def __mul__(self, other): return ops.mul(self, other) if _operand(other) else NotImplemented
    def __rmul__(self, other): return ops.mul(self, other) if _operand(other) else NotImplemented
    def __truediv__(self, other): return ops.div(self, other) if _operand(other) else NotImplemented
    def __rtruediv__(self, other): return ops.rdiv(self, other) if _operand(other) else NotImplemented
    def __floordiv__(self, other): return ops.floordiv(self, other) if _operand(other) else NotImplemented
    def __rfloordiv__(self, other): return ops.rfloordiv(self, other) if _operand(other) else NotImplemented
    def __mod__(self, other): return ops.mod(self, other) if _operand(other) else NotImplemented
    def __rmod__(self, other): return ops.rmod(self, other) if _operand(other) else NotImplemented
    def __pow__(self, other): return ops.pow(self, other) if _operand(other) else NotImplemented
    def __rpow__(self, other): return ops.rpow(self, other) if _operand(other) else NotImplemented
    def __and__(self, other): return ops.logical("and", self, other) if _operand(other) else NotImplemented
    def __rand__(self, other): return ops.logical("and", self, other) if _operand(other) else NotImplemented
    def __or__(self, other): return ops.logical("or", self, other) if _operand(other) else NotImplemented
    def __ror__(self, other): return ops.logical("or", self, other) if _operand(other) else NotImplemented
    def __xor__(self, other): return ops.logical("xor", self, other) if _operand(other) else NotImplemented
    def __rxor__(self, other): return ops.logical("xor", self, other) if _operand(other) else NotImplemented
    def __lshift__(self, other): return ops.logical("left_shift", self, other) if _operand(other) else NotImplemented
    def __rshift__(self, other): return ops.logical("right_shift", self, other) if _operand(other) else NotImplemented
    def __invert__(self): return ops.logical_not(self)
    def __neg__(self): return ops.neg(self)
    def __abs__(self): return ops.abs(self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __eq__(self, other): return ops.compare(self, other, "eq") if _operand(other) else NotImplemented
    def __ne__(self, other): return ops.compare(self, other, "ne") if _operand(other) else NotImplemented
    def __lt__(self, other): return ops.compare(self, other, "lt") if _operand(other) else NotImplemented
    def __le__(self, other): return ops.compare(self, other, "le") if _operand(other) else NotImplemented
    def __gt__(self, other): return ops.compare(self, other, "gt") if _operand(other) else NotImplemented
    def __ge__(self, other): return ops.compare(self, other, "ge") if _operand(other) else NotImplemented
    __hash__ = object.__hash__

    def __getitem__(self, index): return ops.getitem(self, index)
    def __setitem__(self, index, value): ops.indexing.setitem(self, index, value)

    # in place (see graph.indexing.update): every reference sees the new values
    def __iadd__(self, other): return ops.indexing.update(self, ops.add, other, "+=")
    def __isub__(self, other): return ops.indexing.update(self, ops.sub, other, "-=")
    def __imul__(self, other): return ops.indexing.update(self, ops.mul, other, "*=")
    def __itruediv__(self, other): return ops.indexing.update(self, ops.div, other, "/=")
    def __ifloordiv__(self, other): return ops.indexing.update(self, ops.floordiv, other, "//=")
    def __imod__(self, other): return ops.indexing.update(self, ops.mod, other, "%=")
    def __ipow__(self, other): return ops.indexing.update(self, ops.pow, other, "**=")

    def add_(self, other, alpha=1):
        """``self += alpha * other`` in place; returns self."""
        return ops.indexing.update(self, ops.add, other if alpha == 1 else other * alpha, "add_")

    def sub_(self, other, alpha=1):
        """``self -= alpha * other`` in place; returns self."""
        return ops.indexing.update(self, ops.sub, other if alpha == 1 else other * alpha, "sub_")

    def mul_(self, other): return ops.indexing.update(self, ops.mul, other, "mul_")
    def div_(self, other): return ops.indexing.update(self, ops.div, other, "div_")

    def fill_(self, value):
        """Every element set to ``value`` in place; returns self."""
        self[...] = value
        return self

    def masked_fill(self, mask, value):
        """``value`` where the bool ``mask`` (broadcast) holds, else this tensor, in this
        tensor's dtype; differentiable (see ``indexing.masked_fill``)."""
        return ops.indexing.masked_fill(self, mask, value)

    def masked_fill_(self, mask, value):
        """``masked_fill`` in place, ``mask`` broadcast to this tensor's shape (PyTorch's
        rule: trailing axes align; a mask that would enlarge the tensor is refused);
        returns self."""
        return ops.indexing.update(self, lambda x, m: ops.indexing.masked_fill(x, m, value), mask, "masked_fill_")

    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def relu(self): return ops.relu(self)
    def cos(self): return ops.cos(self)
    def sin(self): return ops.sin(self)
    def matmul(self, other): return ops.matmul(self, other)
    def maximum(self, other): return ops.maximum(self, other)
    def minimum(self, other): return ops.minimum(self, other)

    # reductions take numpy's axis=/keepdims= or PyTorch's dim=/keepdim= (see reductions.py)
    def sum(self, *args, **kwargs): return ops.sum(self, *args, **kwargs)
    def mean(self, *args, **kwargs): return ops.mean(self, *args, **kwargs)
    def prod(self, *args, **kwargs): return ops.prod(self, *args, **kwargs)
    def max(self, *args, **kwargs): return ops.max(self, *args, **kwargs)
    def min(self, *args, **kwargs): return ops.min(self, *args, **kwargs)
    def amax(self, dim=(), keepdim=False): return ops.reductions.amax(self, dim, keepdim)
    def amin(self, dim=(), keepdim=False): return ops.reductions.amin(self, dim, keepdim)
    def argmax(self, *args, **kwargs): return ops.argmax(self, *args, **kwargs)
    def argmin(self, *args, **kwargs): return ops.argmin(self, *args, **kwargs)

    def reshape(self, *shape):
        return ops.reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def view(self, *shape):
        return self.reshape(*shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """Collapse the axes ``start_dim`` .. ``end_dim`` (inclusive) into one."""
        return ops.flatten(self, start_dim, end_dim)

    def transpose(self, *axes, dim0=None, dim1=None):
        """``transpose(a, b)`` (or ``dim0=, dim1=``) swaps two axes (as PyTorch);
        ``transpose()`` reverses the axes; ``transpose((p0, p1, ...))`` applies a
        permutation (as numpy)."""
        axes += tuple(d for d in (dim0, dim1) if d is not None)
        if len(axes) == 1:
            return ops.transpose(self, tuple(axes[0]))
        if len(axes) == 2:
            perm = list(range(self.ndim))
            a, b = (axes_.axis("transpose", x, self.shape) for x in axes)
            if self.ndim:
                perm[a], perm[b] = perm[b], perm[a]
            return ops.transpose(self, tuple(perm))
        if axes:
            raise ShapeError(f"transpose() takes two axes or one permutation, got {axes}")
        return ops.transpose(self, None)

    def permute(self, *axes):
        return ops.transpose(self, tuple(axes[0]) if len(axes) == 1 else axes)

    @property
    def T(self):
        return ops.transpose(self, None)

    def broadcast_to(self, shape): return ops.broadcast_to(self, tuple(shape))
    def expand(self, *shape):
        """``x`` broadcast to ``shape`` (sizes or one tuple); -1 keeps an extent (PyTorch)."""
        return ops.expand(self, _shape_args(shape))

    def astype(self, dtype): return ops.cast(self, dtype)
    def float(self): return ops.cast(self, "float32")
    def double(self): return ops.cast(self, "float64")
    def half(self): return ops.cast(self, "float16")
    def long(self): return ops.cast(self, "int64")
    def int(self): return ops.cast(self, "int32")
    def bool(self): return ops.cast(self, "bool")
    def where(self, condition, other): return ops.where(condition, self, other)

    def unsqueeze(self, dim): return join_ops.unsqueeze(self, dim)
    def squeeze(self, dim=None): return join_ops.squeeze(self, dim)
    def split(self, split_size_or_sections, dim=0): return join_ops.split(self, split_size_or_sections, dim)
    def chunk(self, chunks, dim=0): return join_ops.chunk(self, chunks, dim)
    def clamp(self, min=None, max=None): return join_ops.clamp(self, min, max)
    clip = clamp

    def erf(self): return pointwise_ops.erf(self)
    def tan(self): return pointwise_ops.tan(self)
    def atan(self): return pointwise_ops.atan(self)
    def asin(self): return pointwise_ops.asin(self)
    def acos(self): return pointwise_ops.acos(self)
    def exp2(self): return pointwise_ops.exp2(self)
    def expm1(self): return pointwise_ops.expm1(self)
    def log2(self): return pointwise_ops.log2(self)
    def log10(self): return pointwise_ops.log10(self)
    def log1p(self): return pointwise_ops.log1p(self)

    def var(self, *args, **kwargs): return stat_ops.var(self, *args, **kwargs)
    def std(self, *args, **kwargs): return stat_ops.std(self, *args, **kwargs)
    def logsumexp(self, dim, keepdim=False): return stat_ops.logsumexp(self, dim, keepdim)
    def norm(self, p=2, dim=None, keepdim=False): return stat_ops.norm(self, p, dim, keepdim)
    def any(self, dim=None, keepdim=False): return stat_ops.any(self, dim, keepdim)
    def all(self, dim=None, keepdim=False): return stat_ops.all(self, dim, keepdim)
    def index_select(self, dim, index): return index_ops.index_select(self, dim, index)


#: what an operator takes beside a Tensor without looking closer (see :func:`_operand`)
_OPERAND_TYPES = (Tensor, int, float, np.number, np.bool_)


def _operand(value):
    """Whether ``value`` can be the other operand of a Tensor operator: a Tensor, a
    number, or an array-like of numbers or bools (not None, strings or objects)."""
    if isinstance(value, _OPERAND_TYPES):
        return True
    if isinstance(value, (np.ndarray, list, tuple)):
        try:
            return np.asarray(value).dtype.kind in "biuf"
        except ValueError:          # a ragged list
            return False
    return False


def _as_ndarray(data, dtype, device):
    return as_ndarray(data._data if isinstance(data, Tensor) else data, dtype, device)


def tensor(data, requires_grad=False, device=None, dtype=None):
    """A new leaf tensor holding a copy of ``data``.

    Numpy arrays keep their dtype (float64 stays float64, integer labels stay integers);
    Python floats become float32, ints int64, bools bool. ``device`` defaults to the CPU.
    A Python int that the dtype cannot hold raises ValueOverflowError, as PyTorch raises.
    """
    return Tensor(_as_ndarray(data, dtype, device), requires_grad=requires_grad)


def _rebuild(cls, data, requires_grad):
    """A leaf of class ``cls`` over NDArray ``data`` (unpickling, copies)."""
    t = object.__new__(cls)
    t._data, t.grad, t._ctx, t._aliased = data, None, None, False
    t.requires_grad = requires_grad
    return t


def _shape_args(shape):
    return tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape


def method_of(function):
    """A Tensor method calling the graph function ``function`` with the tensor first: a
    new function object, so that :func:`add_methods` naming it after the method leaves
    ``function`` (also ``tm.<name>``) its own name."""
    def method(self, *args, **kwargs):
        return function(self, *args, **kwargs)
    method.__doc__ = function.__doc__
    return method


def add_methods(methods):
    """Attach ``{name: function(self, ...)}`` to :class:`Tensor` as methods: how op modules
    beyond the core (aliases, sorting, gathering) give Tensor PyTorch's method names without
    growing this file. Each function is renamed to its method name for help() and errors."""
    for name, function in methods.items():
        function.__name__ = name
        function.__qualname__ = f"Tensor.{name}"
        function.__doc__ = function.__doc__ or f"PyTorch's ``Tensor.{name}``."
        setattr(Tensor, name, function)


autograd.wrap = Tensor._wrap
# the op modules build Tensors: imported last, to break the cycle
from . import index_ops, join_ops, ops, pointwise_ops, stat_ops  # noqa: E402


class _ToDevice(autograd.Function):
    """A computed tensor copied to ``device``, keeping its history: the gradient is
    copied back to the source device (PyTorch's ``ToCopyBackward``), so ``(w * x).cpu()``
    still trains ``w``. (A leaf moved by ``to`` is a new leaf of its own instead, so a
    parameter created on one device and moved trains on the other.)"""
    saved = ()

    def forward(self, x):
        self.source = x.device
        return x.copyto(self.device)

    def backward(self, g):
        return (g.to(self.source),)

