"""``nn.MultiheadAttention``: PyTorch's multi-head attention layer, its parameter names,
initialisation, masks and shapes, written with the graph's ops (linear projections, a
batched product, softmax, dropout) so its gradient and ``tm.jit`` tracing come from theirs.

Without the attention weights (``need_weights=False``, what the transformer layers ask)
the heads run through ``F.scaled_dot_product_attention``; with them the same formula is
written out here so the weights can be returned.
"""
import math

from ..errors import ArgumentError, DTypeError, ShapeError
from ..graph import Tensor, ops, zeros
from ..graph.nn_ops import softmax
from . import functional as F
from . import init
from .layers import Linear
from .module import Module, Parameter


def float_mask(mask, dtype, op, what):
    """``mask`` as an additive float bias: a bool mask's True (masked out) becomes -inf
    and False 0 (PyTorch's convention for ``attn_mask``/``key_padding_mask``); a float
    mask is the bias already."""
    if mask is None:
        return None
    if mask.dtype == "bool":
        return ops.where(mask, float("-inf"), zeros(*mask.shape, dtype=dtype, device=mask.device))
    if not mask.dtype.startswith("float"):
        raise DTypeError(f"{op}: {what} must be bool or float, got {mask.dtype}")
    return mask if mask.dtype == dtype else mask.to(dtype)


class MultiheadAttention(Module):
    """Attention from ``num_heads`` heads of ``embed_dim // num_heads`` features each
    (PyTorch's ``nn.MultiheadAttention``). Parameters: ``in_proj_weight`` (3E, E) and
    ``in_proj_bias`` (3E) when key and value have ``embed_dim`` features, else
    ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim);
    ``out_proj`` a Linear (E, E). Projection weights are Glorot-uniform, biases zero.
    ``add_bias_kv`` and ``add_zero_attn`` are not built and refused."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, dtype="float32"):
        super().__init__()
        if add_bias_kv or add_zero_attn:
            raise ArgumentError(f"MultiheadAttention: add_bias_kv and add_zero_attn are not supported, got "
                                f"add_bias_kv={add_bias_kv!r}, add_zero_attn={add_zero_attn!r}")
        if not isinstance(num_heads, int) or num_heads < 1 or embed_dim % num_heads:
            raise ShapeError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        if not 0 <= dropout <= 1:
            raise ShapeError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(zeros(3 * embed_dim, embed_dim, dtype=dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(zeros(embed_dim, embed_dim, dtype=dtype))
            self.k_proj_weight = Parameter(zeros(embed_dim, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(zeros(embed_dim, self.vdim, dtype=dtype))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(zeros(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        self._reset_parameters()

    def _reset_parameters(self):
        for weight in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if weight is not None:
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _projections(self):
        """(weight, bias) of the query, key and value projections."""
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            weights = [self.in_proj_weight[k * e:(k + 1) * e] for k in range(3)]
        else:
            weights = [self.q_proj_weight, self.k_proj_weight, self.v_proj_weight]
        biases = [None] * 3 if self.in_proj_bias is None else [self.in_proj_bias[k * e:(k + 1) * e] for k in range(3)]
        return list(zip(weights, biases))

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        """(output, weights): output shaped as ``query`` ((L, N, E), (N, L, E) with
        ``batch_first``, or unbatched (L, E)); weights (N, L, S) averaged over the heads,
        (N, num_heads, L, S) with ``average_attn_weights=False`` (unbatched: no N), or
        None when ``need_weights=False``. ``key_padding_mask`` (N, S) and ``attn_mask``
        (L, S) or (N * num_heads, L, S): bool (True: masked out) or float (added to the
        scores). ``is_causal`` is a hint that ``attn_mask`` is the causal mask (which must
        be given, as PyTorch requires); without weights or padding mask the causal
        attention then runs without reading the mask."""
        batched = self._check_ranks(query, key, value, key_padding_mask)
        self._check_shapes(query, key, value, 0 if self.batch_first or not batched else 1)
        if is_causal and attn_mask is None:
            raise ArgumentError("MultiheadAttention: is_causal=True is a hint that attn_mask is the causal mask; "
                                "attn_mask must be given too (as PyTorch requires)")
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        n, length, source = query.shape[0], query.shape[1], key.shape[1]
        heads = []
        for x, (weight, bias) in zip((query, key, value), self._projections()):
            x = F.linear(x, weight, bias)
            heads.append(x.reshape(n, x.shape[1], self.num_heads, self.head_dim).transpose(1, 2))
        q, k, v = heads
        bias = self._mask(attn_mask, key_padding_mask, n, length, source, q.dtype)
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = ops.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
            weights = softmax(scores if bias is None else scores + bias, dim=-1)
            if p > 0:
                weights = F.dropout(weights, p)
            out = ops.matmul(weights, v)
        else:
            causal = is_causal and key_padding_mask is None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if causal else bias, dropout_p=p,
                                                 is_causal=causal)
            weights = None
        out = self.out_proj(out.transpose(1, 2).reshape(n, length, self.embed_dim))
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if weights is not None:
            if average_attn_weights:
                weights = weights.mean(1)
            if not batched:
                weights = weights.squeeze(0)
        return out, weights

    def _check_ranks(self, query, key, value, key_padding_mask):
        """Whether the inputs are batched (3-D) or not (2-D), all alike."""
        for name, t in (("query", query), ("key", key), ("value", value), ("key_padding_mask", key_padding_mask)):
            if t is not None and not isinstance(t, Tensor):
                raise DTypeError(f"MultiheadAttention: {name} must be a Tensor, got {type(t).__name__}")
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ShapeError(f"MultiheadAttention: query, key and value must be all 3-D (batched) or all 2-D "
                             f"(unbatched), got shapes {query.shape}, {key.shape}, {value.shape}")
        if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
            raise ShapeError(f"MultiheadAttention: key_padding_mask must be {query.ndim - 1}-D for a "
                             f"{query.ndim}-D query, got shape {key_padding_mask.shape}")
        return query.ndim == 3

    def _check_shapes(self, query, key, value, batch_axis):
        """Features ``embed_dim``, ``kdim``, ``vdim``; key and value of one source length,
        all of one batch (``batch_axis``, of batched inputs)."""
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ShapeError(f"MultiheadAttention: query, key and value need {self.embed_dim}, {self.kdim} and "
                             f"{self.vdim} features, got shapes {query.shape}, {key.shape}, {value.shape}")
        batch = slice(batch_axis, batch_axis + 1) if query.ndim == 3 else slice(0, 0)
        if key.shape[:-1] != value.shape[:-1] or key.shape[batch] != query.shape[batch]:
            raise ShapeError(f"MultiheadAttention: key and value must share batch and source length with the "
                             f"query's batch, got shapes {query.shape}, {key.shape}, {value.shape}")

    def _mask(self, attn_mask, key_padding_mask, n, length, source, dtype):
        """The sum of both masks as a float bias broadcasting to (N, heads, L, S), or None."""
        bias = None
        if attn_mask is not None:
            shapes = {2: (length, source), 3: (n * self.num_heads, length, source)}
            if attn_mask.ndim not in shapes or attn_mask.shape != shapes[attn_mask.ndim]:
                raise ShapeError(f"MultiheadAttention: attn_mask must be {shapes[2]} or {shapes[3]} for a query of "
                                 f"length {length}, a source of length {source} and {self.num_heads} heads, got "
                                 f"shape {attn_mask.shape}")
            bias = float_mask(attn_mask, dtype, "MultiheadAttention", "attn_mask")
            bias = bias.reshape(n, self.num_heads, length, source) if attn_mask.ndim == 3 else bias
        if key_padding_mask is not None:
            if key_padding_mask.shape != (n, source):
                raise ShapeError(f"MultiheadAttention: key_padding_mask must be {(n, source)} (batch, source "
                                 f"length), got shape {key_padding_mask.shape}")
            padding = float_mask(key_padding_mask, dtype, "MultiheadAttention", "key_padding_mask")
            padding = padding.reshape(n, 1, 1, source)
            bias = padding if bias is None else bias + padding
        return bias
