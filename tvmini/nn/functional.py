"""nn.functional: the stateless forms of the layers and the losses (PyTorch names).

Everything here is a thin, checked entry into the graph ops (``tvmini.graph.ops`` and
``tvmini.graph.nn_ops``), so each call runs compiled kernels and records its gradient.
"""
from ..graph import ops
from ..graph.nn_ops import binary_cross_entropy_with_logits, linear, log_softmax, mse_loss, softmax, softmin
from ..graph.activation_ops import glu, prelu
from ..graph.attention_ops import scaled_dot_product_attention
from ..graph.conv_ops import (adaptive_avg_pool2d, avg_pool2d, batch_norm, conv2d, conv_transpose2d, dropout, dropout1d,
                              dropout2d, max_pool2d)
from ..graph.conv1d_ops import adaptive_avg_pool1d, avg_pool1d, conv1d, conv_transpose1d, max_pool1d
from ..graph.join_ops import one_hot, pad
from ..graph.resize_ops import interpolate
from ..graph.pointwise_ops import (celu, elu, gelu, hardshrink, hardsigmoid, hardswish, hardtanh, leaky_relu,
                                   logsigmoid, mish, relu6, selu, silu, softplus, softshrink, softsign, tanhshrink,
                                   threshold)
from ..graph.index_ops import embedding
from ..graph.embedding_bag import embedding_bag
from ..graph.stat_ops import cosine_similarity, group_norm, layer_norm, normalize, pairwise_distance
from ..graph.loss_ops import (binary_cross_entropy, cross_entropy, huber_loss, kl_div, l1_loss, nll_loss,
                              smooth_l1_loss)
# more layers' functional forms (graph/normalization_ops.py, window_ops.py, layer_ops.py)
from ..graph.normalization_ops import instance_norm, local_response_norm, rms_norm
from ..graph.window_ops import adaptive_max_pool1d, adaptive_max_pool2d, fold, unfold
from ..graph.layer_ops import alpha_dropout, bilinear, channel_shuffle, pixel_shuffle, pixel_unshuffle
# margin, embedding and likelihood losses (graph/margin_losses.py, likelihood_losses.py, ctc_loss.py)
from ..graph.margin_losses import (cosine_embedding_loss, hinge_embedding_loss, margin_ranking_loss, multi_margin_loss,
                                   multilabel_margin_loss, multilabel_soft_margin_loss, soft_margin_loss,
                                   triplet_margin_loss, triplet_margin_with_distance_loss)
from ..graph.likelihood_losses import gaussian_nll_loss, poisson_nll_loss
from ..graph.ctc_loss import ctc_loss

__all__ = ["relu", "tanh", "sigmoid", "cos", "softmax", "log_softmax", "linear", "flatten", "dropout",
           "batch_norm", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "cross_entropy", "nll_loss",
           "mse_loss", "binary_cross_entropy_with_logits", "pad", "one_hot", "gelu", "silu",
           "leaky_relu", "elu", "softplus", "embedding", "layer_norm", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "kl_div", "adaptive_avg_pool2d", "conv1d", "max_pool1d", "avg_pool1d",
           "group_norm", "dropout1d", "dropout2d", "hardtanh", "relu6", "mish", "logsigmoid", "softsign",
           "hardsigmoid", "hardswish", "normalize", "cosine_similarity", "pairwise_distance",
           "softmin", "glu", "prelu", "selu", "celu", "threshold", "tanhshrink", "softshrink", "hardshrink",
           "adaptive_avg_pool1d", "conv_transpose1d", "interpolate", "scaled_dot_product_attention",
           # graph/normalization_ops.py, window_ops.py, layer_ops.py
           "rms_norm", "instance_norm", "local_response_norm", "adaptive_max_pool1d", "adaptive_max_pool2d", "fold",
           "unfold", "channel_shuffle", "pixel_shuffle", "pixel_unshuffle", "alpha_dropout", "bilinear",
           # graph/margin_losses.py, likelihood_losses.py, ctc_loss.py
           "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
           "multi_margin_loss", "multilabel_margin_loss", "cosine_embedding_loss", "triplet_margin_loss",
           "triplet_margin_with_distance_loss", "poisson_nll_loss", "gaussian_nll_loss", "ctc_loss",
           # graph/embedding_bag.py
           "embedding_bag"]


def relu(x, inplace=False):
    """max(x, 0). ``inplace=True`` (PyTorch's) is accepted; the result is computed out of
    place, with the same values (``x`` itself keeps its own)."""
    return ops.relu(x)


def tanh(x):
    return ops.tanh(x)


def sigmoid(x):
    return ops.sigmoid(x)


def cos(x):
    return ops.cos(x)


def flatten(x, start_dim=1, end_dim=-1):
    """Collapse the axes ``start_dim`` .. ``end_dim`` (inclusive) into one."""
    return ops.flatten(x, start_dim, end_dim)
