"""nn.utils: gradient clipping, as PyTorch's ``clip_grad_norm_`` and ``clip_grad_value_``
(``nn.utils.rnn.pad_sequence`` lives with the recurrent layers, in ``nn/rnn.py``).

The norm and the scale stay tensors (kernels on the parameters' device, no round trip to
the host), so clipping traces into a ``tm.jit`` step like the rest of it.
"""
import math

from ..errors import ShapeError
from ..graph import no_grad
from ..graph import join_ops, ops, stat_ops
from ..graph.tensor import Tensor, tensor
# nn.utils.rnn.pad_sequence (nn/rnn.py)
from . import rnn  # noqa: F401


def _grads(parameters):
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients of ``parameters`` together so that their joint ``norm_type``
    norm is at most ``max_norm``; returns that norm (before clipping) as a tensor.
    ``error_if_nonfinite``: raise if the norm is NaN or infinite (reads it on the host)."""
    params = _grads(parameters)
    if not params:
        return tensor(0.0)
    with no_grad():
        norms = [stat_ops.norm(p.grad, norm_type) for p in params]
        total = stat_ops.norm(join_ops.stack(norms), norm_type)
        if error_if_nonfinite and not math.isfinite(float(total)):
            raise ShapeError(f"clip_grad_norm_: the total norm of the gradients is {float(total)} "
                             "(error_if_nonfinite=True)")
        scale = join_ops.clamp(ops.rdiv(total + 1e-6, float(max_norm)), max=1.0)
        for p in params:
            p.grad = p.grad * scale
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient of ``parameters`` into ``[-clip_value, clip_value]``."""
    with no_grad():
        for p in _grads(parameters):
            p.grad = join_ops.clamp(p.grad, -float(clip_value), float(clip_value))
