"""Loss modules (PyTorch names) over the functional losses."""
from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross entropy from logits (N, C) and integer labels (N,)."""

    def forward(self, logits, labels):
        return F.cross_entropy(logits, labels, self.reduction)


class NLLLoss(_Loss):
    def forward(self, log_probs, labels):
        return F.nll_loss(log_probs, labels, self.reduction)


class MSELoss(_Loss):
    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)
