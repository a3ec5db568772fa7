"""nn: modules, layers, losses and initialisation (PyTorch-shaped)."""
from . import functional, init, utils
from .activation import (CELU, ELU, GELU, GLU, SELU, CosineSimilarity, Cos, Hardshrink, Hardsigmoid, Hardswish,
                         Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish, PairwiseDistance, PReLU, ReLU, ReLU6,
                         Sigmoid, SiLU, Softmax, Softmin, Softplus, Softshrink, Softsign, Tanh, Tanhshrink, Threshold)
from .layers import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d,
                     ConvTranspose1d, ConvTranspose2d, Dropout, Dropout1d, Dropout2d, Embedding, Flatten, GroupNorm,
                     Identity, LayerNorm, Linear, MaxPool1d, MaxPool2d, Unflatten)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
# margin, embedding and likelihood losses (nn/margin_loss.py)
from .margin_loss import (CosineEmbeddingLoss, CTCLoss, GaussianNLLLoss, HingeEmbeddingLoss, MarginRankingLoss,
                          MultiLabelMarginLoss, MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss,
                          SoftMarginLoss, TripletMarginLoss, TripletMarginWithDistanceLoss)
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .module import Module, ModuleDict, ModuleList, Parameter, ParameterDict, ParameterList, Sequential
# recurrent layers (nn/rnn.py)
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
# attention and the transformer (nn/attention.py, nn/transformer.py)
from .attention import MultiheadAttention
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)
# more layers (nn/normalization.py, nn/extra_layers.py)
from .normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LocalResponseNorm, RMSNorm
from .extra_layers import (AdaptiveMaxPool1d, AdaptiveMaxPool2d, AlphaDropout, Bilinear, ChannelShuffle,
                           CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d,
                           EmbeddingBag, Fold, PixelShuffle, PixelUnshuffle, ReflectionPad1d, ReflectionPad2d,
                           ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, Softmax2d, Unfold,
                           ZeroPad1d, ZeroPad2d, ZeroPad3d)

__all__ = ["functional", "init", "utils", "Module", "ModuleList", "ModuleDict", "ParameterList", "Parameter",
           "Sequential", "Linear", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding", "Dropout", "ReLU", "Tanh", "Sigmoid", "Cos", "GELU",
           "SiLU", "LeakyReLU", "ELU", "Softplus", "Softmax", "LogSoftmax", "Flatten", "Identity", "CrossEntropyLoss",
           "NLLLoss", "MSELoss", "BCEWithLogitsLoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "KLDivLoss",
           "Conv1d", "MaxPool1d", "AvgPool1d", "GroupNorm", "Dropout1d", "Dropout2d", "Unflatten", "ParameterDict",
           "Hardtanh", "ReLU6", "Mish", "LogSigmoid", "Softsign", "Hardsigmoid", "Hardswish", "PReLU", "SELU", "CELU",
           "GLU", "Softmin", "Threshold", "Tanhshrink", "Softshrink", "Hardshrink", "CosineSimilarity",
           "PairwiseDistance", "AdaptiveAvgPool1d", "ConvTranspose1d", "Upsample", "UpsamplingNearest2d",
           "UpsamplingBilinear2d",
           # recurrent layers (nn/rnn.py)
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
           # nn/attention.py, nn/transformer.py
           "MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
           "TransformerDecoderLayer",
           # nn/normalization.py, nn/extra_layers.py
           "RMSNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm", "ZeroPad1d",
           "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d",
           "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d",
           "CircularPad1d", "CircularPad2d", "CircularPad3d", "Bilinear", "PixelShuffle", "PixelUnshuffle",
           "ChannelShuffle", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Softmax2d", "AlphaDropout", "Unfold", "Fold",
           "EmbeddingBag",
           # nn/margin_loss.py
           "MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
           "MultiLabelMarginLoss", "CosineEmbeddingLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
           "PoissonNLLLoss", "GaussianNLLLoss", "CTCLoss"]
