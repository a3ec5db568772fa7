"""graph: the autodiff Tensor and the ops behind it (each a compiled, cached tvmini kernel)."""
from . import ops
from .join_ops import cat, chunk, clamp, split, squeeze, stack, unsqueeze
from .ops import where
from .index_ops import index_select
from .stat_ops import logsumexp, std, var
from .autograd import Function, enable_grad, is_grad_enabled, no_grad
from .dispatch import kernel_count
from .tensor import (Tensor, arange, from_numpy, full, manual_seed, ones, ones_like, rand, randn, tensor,
                     zeros, zeros_like)
from .jit import jit

__all__ = ["Function", "Tensor", "arange", "cat", "chunk", "clamp", "split", "squeeze", "stack", "unsqueeze",
           "where", "index_select", "logsumexp", "std", "var", "enable_grad", "from_numpy", "full", "is_grad_enabled",
           "jit", "kernel_count", "manual_seed", "no_grad", "ones", "ones_like", "ops", "rand", "randn",
           "tensor", "zeros", "zeros_like"]
