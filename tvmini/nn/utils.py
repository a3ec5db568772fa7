"""nn.utils: gradient clipping, as PyTorch's ``clip_grad_norm_`` and ``clip_grad_value_``,
and ``parameters_to_vector``/``vector_to_parameters`` (``nn.utils.rnn.pad_sequence``
lives with the recurrent layers, in ``nn/rnn.py``).

The norm and the scale stay tensors (kernels on the parameters' device, no round trip to
the host), so clipping traces into a ``tm.jit`` step like the rest of it.
"""
import math

from ..errors import DeviceError, DTypeError, ShapeError
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


def parameters_to_vector(parameters):
    """The parameters flattened and joined into one 1-d tensor, in order (a differentiable
    graph op: its gradient flows back to each parameter). All must be on one device."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    _one_device("parameters_to_vector", params)
    return join_ops.cat([ops.reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec, parameters):
    """Write consecutive slices of the 1-d tensor ``vec`` into ``parameters`` (each slice
    reshaped to its parameter), the inverse of :func:`parameters_to_vector`. The values
    are copied into each parameter's own memory (PyTorch's makes the parameters views of
    ``vec``): optimizers and ``tm.jit`` steps that hold the parameters' arrays see them."""
    if not isinstance(vec, Tensor):
        raise DTypeError(f"vector_to_parameters: expected a Tensor, but got {type(vec).__name__}")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    _one_device("vector_to_parameters", params + [vec])
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ShapeError(f"vector_to_parameters: vec of shape {vec.shape} does not hold the {total} elements of "
                         f"parameters of shapes {[p.shape for p in params]}")
    start = 0
    with no_grad():
        for p in params:
            count = p.numel()
            p.data.copy_(ops.reshape(vec[start:start + count], p.shape))
            start += count


def _one_device(op, tensors):
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise DeviceError(f"{op}: found tensors on different devices ({sorted(map(str, devices))}), which is not "
                          "supported")
