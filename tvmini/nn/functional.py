"""nn.functional: the stateless forms of the layers and the losses (PyTorch names).

Everything here is a thin, checked entry into the graph ops (``tvmini.graph.ops`` and
``tvmini.graph.nn_ops``), so each call runs compiled kernels and records its gradient.
"""
from ..graph import ops
from ..graph.nn_ops import binary_cross_entropy_with_logits, linear, log_softmax, mse_loss, softmax, softmin
from ..graph.activation_ops import glu, gumbel_softmax, prelu, rrelu
from ..graph.indexing import update
from ..graph.attention_ops import scaled_dot_product_attention
from ..graph.conv_ops import (adaptive_avg_pool2d, avg_pool2d, batch_norm, conv2d, conv_transpose2d, dropout, dropout1d,
                              dropout2d, max_pool2d)
from ..graph.conv1d_ops import adaptive_avg_pool1d, avg_pool1d, conv1d, conv_transpose1d, max_pool1d
# 3-D convolution and pooling, unpooling, LP pooling (graph/conv3d_ops.py, pool3d_ops.py)
from ..graph.conv_ops import dropout3d
from ..graph.conv3d_ops import conv3d, conv_transpose3d
from ..graph.pool3d_ops import (adaptive_avg_pool3d, adaptive_max_pool1d_with_indices,
                                adaptive_max_pool2d_with_indices, adaptive_max_pool3d,
                                adaptive_max_pool3d_with_indices, avg_pool3d, lp_pool1d, lp_pool2d, lp_pool3d,
                                max_pool1d_with_indices, max_pool2d_with_indices, max_pool3d, max_pool3d_with_indices,
                                max_unpool1d, max_unpool2d, max_unpool3d)
from ..graph.grid_sample_ops import affine_grid, grid_sample
from ..graph.join_ops import one_hot, pad
from ..graph.resize_ops import interpolate
from ..graph.pointwise_ops import (celu, elu, gelu, hardshrink, hardsigmoid, hardswish, hardtanh, leaky_relu,
                                   logsigmoid, mish, relu6, selu, silu, softplus, softshrink, softsign, tanhshrink,
                                   threshold)
from ..graph.index_ops import embedding
from ..graph.embedding_bag import embedding_bag
from ..graph.norm_ops import pdist
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
           "triplet_margin_with_distance_loss", "poisson_nll_loss", "gaussian_nll_loss", "ctc_loss", "pdist",
           # graph/embedding_bag.py
           "embedding_bag",
           # graph/activation_ops.py, and the in-place forms below
           "rrelu", "gumbel_softmax", "relu_", "elu_", "leaky_relu_", "hardtanh_", "selu_", "celu_", "threshold_",
           "rrelu_",
           # graph/conv3d_ops.py, pool3d_ops.py
           "conv3d", "conv_transpose3d", "dropout3d", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d",
           "adaptive_max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
           "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices",
           "max_unpool1d", "max_unpool2d", "max_unpool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d",
           # graph/grid_sample_ops.py
           "affine_grid", "grid_sample"]


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


def _in_place(function, name):
    """PyTorch's in-place functional form ``F.<name>(input, ...)``: ``function`` computed
    and written over ``input`` (the path of ``x += y``: every reference sees it; in grad
    mode ``input`` becomes the result, as PyTorch's in-place ops); returns ``input``."""
    def apply(input, *args, **kwargs):
        return update(input, lambda x, _: function(x, *args, **kwargs), None, name)
    apply.__name__ = apply.__qualname__ = name
    apply.__doc__ = f"``{function.__name__}`` in place, written over ``input``; returns ``input``."
    return apply


relu_ = _in_place(ops.relu, "relu_")
elu_ = _in_place(elu, "elu_")
leaky_relu_ = _in_place(leaky_relu, "leaky_relu_")
hardtanh_ = _in_place(hardtanh, "hardtanh_")
selu_ = _in_place(selu, "selu_")
celu_ = _in_place(celu, "celu_")
threshold_ = _in_place(threshold, "threshold_")
rrelu_ = _in_place(rrelu, "rrelu_")
