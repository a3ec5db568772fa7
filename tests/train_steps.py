"""The training step the graph-layer tests share: zero the gradients, cross entropy of
``model(x)`` against ``y``, backward, optimizer step; returns the loss (eager, or the
function ``tm.jit`` traces)."""
from tvmini import nn


def cross_entropy_step(model, opt):
    """One cross-entropy training step of ``model`` with ``opt``, as ``step(x, y)``."""
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step
