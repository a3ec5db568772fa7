"""nn: modules, layers, losses and initialisation (PyTorch-shaped)."""
from . import functional, init, utils
from .layers import (ELU, GELU, AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Cos,
                     Dropout, Embedding, Flatten, Hardsigmoid, Hardswish, Hardtanh, Identity, LayerNorm, LeakyReLU,
                     Linear, LogSigmoid, LogSoftmax, MaxPool2d, Mish, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus,
                     Softsign, Tanh)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .module import Module, ModuleDict, ModuleList, Parameter, ParameterList, Sequential

__all__ = ["functional", "init", "utils", "Module", "ModuleList", "ModuleDict", "ParameterList", "Parameter",
           "Sequential", "Linear", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding", "Dropout", "ReLU", "Tanh", "Sigmoid", "Cos", "GELU",
           "SiLU", "LeakyReLU", "ELU", "Softplus", "Softmax", "LogSoftmax", "Flatten", "Identity", "CrossEntropyLoss",
           "NLLLoss", "MSELoss", "BCEWithLogitsLoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "KLDivLoss",
           "Hardtanh", "ReLU6", "Mish", "LogSigmoid", "Softsign", "Hardsigmoid", "Hardswish"]
