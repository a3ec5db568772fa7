"""``F.scaled_dot_product_attention``: PyTorch's reference formula written with the graph's
ops (a batched product, a mask, a stable softmax, dropout, a product), so its gradient
and ``tm.jit`` tracing come from theirs."""
import math

import numpy as np

from ..errors import DTypeError, ShapeError
from ..runtime import ndarray as nd
from . import ops, stat_ops
from .conv_ops import dropout
from .nn_ops import softmax
from .tensor import Tensor


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """``softmax(q @ k^T * scale + bias) @ v`` over the last two axes, batched over the
    others (broadcasting), with ``scale`` defaulting to ``1/sqrt(E)``; ``attn_mask``: a
    bool tensor (True: take part; False: -inf) or a float bias added to the scores;
    ``is_causal``: query ``i`` sees keys ``j <= i`` only (no ``attn_mask`` then);
    ``dropout_p``: dropout on the attention weights (always applied, as PyTorch's). A
    query whose mask row excludes every key gets zeros. ``enable_gqa``: grouped-query
    attention, each of the fewer key/value heads (axis -3) shared by a group of query heads."""
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ShapeError(f"scaled_dot_product_attention: query, key and value need (..., L, E) shapes, got "
                         f"{query.shape}, {key.shape}, {value.shape}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: query (..., L, E), key (..., S, E) and value (..., S, Ev) "
                         f"disagree: got {query.shape}, {key.shape}, {value.shape}")
    if is_causal and attn_mask is not None:
        raise ShapeError("scaled_dot_product_attention: give either attn_mask or is_causal=True, not both")
    if enable_gqa:
        key, value = _shared_heads(query, key), _shared_heads(query, value)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = ops.matmul(query, key.transpose(-2, -1)) * scale
    if attn_mask is not None and ops.broadcast_shapes("scaled_dot_product_attention", scores.shape,
                                                      attn_mask.shape) != scores.shape:
        raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape {attn_mask.shape} must broadcast to "
                         f"the attention scores' shape {scores.shape} (..., L, S)")
    if is_causal:
        length, source = query.shape[-2], key.shape[-2]
        attn_mask = Tensor._wrap(nd.array(np.tril(np.ones((length, source), dtype=bool)), device=query.device))
    if attn_mask is not None:
        if attn_mask.dtype == "bool":
            scores = ops.where(attn_mask, scores, float("-inf"))
        elif attn_mask.dtype.startswith("float"):
            scores = scores + attn_mask
        else:
            raise DTypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, got {attn_mask.dtype}")
        # a query the mask lets see no key attends to nothing: zeros, as PyTorch's (not
        # softmax's NaN of an all -inf row, which would also poison the gradients)
        blind = stat_ops.all(ops.compare(scores, float("-inf"), "eq"), -1, keepdim=True)
        scores = ops.where(blind, 0.0, scores)
    weights = softmax(scores, dim=-1)
    if attn_mask is not None:
        weights = ops.where(blind, 0.0, weights)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p)
    return ops.matmul(weights, value)


def _shared_heads(query, kv):
    """``kv`` with each head (axis -3) repeated for its group of query heads (GQA)."""
    if query.ndim < 3 or kv.ndim < 3 or query.shape[-3] % kv.shape[-3]:
        raise ShapeError(f"scaled_dot_product_attention: with enable_gqa the key/value heads (axis -3) must divide "
                         f"the query heads, got shapes {query.shape} and {kv.shape}")
    groups = query.shape[-3] // kv.shape[-3]
    return kv.repeat_interleave(groups, dim=-3) if groups > 1 else kv
