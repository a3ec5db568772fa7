"""The Tensor methods of the math ops in ``pointwise_ops`` and ``binary_ops`` under
PyTorch's names (``x.floor()``, ``x.atan2(y)``, ``x.lerp(y, 0.5)`` ...) and their in-place
``_`` variants (``x.floor_()``, ``x.addcmul_(a, b, value=2)`` ...).

The older ops whose methods ``Tensor`` defines itself (``exp``, ``relu``, ``pow``, ``clamp``,
``tril`` ...) get their in-place variants here too, from one table (``_IN_PLACE``), and
``square``, ``clamp_min`` and ``clamp_max`` their methods.

An in-place variant computes the op out of place and writes the result over ``x``
through ``indexing.update``, the path of ``x += y``: every reference to ``x`` sees the
values, the result converts to ``x``'s dtype within its category (``rsqrt_`` on an
integer tensor is refused, as PyTorch refuses it), and in grad mode ``x`` becomes the
op's output, so gradients flow through the write as PyTorch's do.
"""
from . import binary_ops, join_ops, ops, pointwise_ops, reorder_ops
from .indexing import update
from .tensor import Tensor, add_methods, method_of


def _in_place(fn, name):
    def method(self, *args, **kwargs):
        # a tensor operand that requires grad makes the write a recorded one (as ``x += y``)
        tracked = next((a for a in (*args, *kwargs.values()) if isinstance(a, Tensor) and a.requires_grad), None)
        return update(self, lambda x, _: fn(x, *args, **kwargs), tracked, name)
    method.__doc__ = f"``{name[:-1]}`` in place (written over this tensor, see ``x += y``); returns self."
    return method


_OPS = {name: getattr(pointwise_ops, name) for name in (
    "floor", "ceil", "round", "trunc", "frac", "sign", "rsqrt", "reciprocal", "sinh", "cosh", "asinh", "acosh",
    "atanh", "nan_to_num")}
_OPS.update({name: getattr(binary_ops, name) for name in (
    "atan2", "hypot", "fmod", "remainder", "lerp", "addcmul", "addcdiv", "heaviside", "logical_and", "logical_or",
    "logical_xor", "logical_not")})
_OPS.update(sgn=pointwise_ops.sign,          # the same for real tensors
            square=binary_ops.square, clamp_min=join_ops.clamp_min, clamp_max=join_ops.clamp_max)

#: the ops with a method of Tensor's own that get only their in-place variant here
_IN_PLACE = {name: getattr(ops, name) for name in (
    "exp", "log", "sqrt", "abs", "neg", "relu", "sigmoid", "tanh", "cos", "sin", "pow")}
_IN_PLACE.update({name: getattr(pointwise_ops, name) for name in pointwise_ops.MATH if name not in _OPS})
_IN_PLACE.update(clamp=join_ops.clamp, clip=join_ops.clamp, tril=reorder_ops.tril, triu=reorder_ops.triu)

#: the math methods (with an in-place variant each, as PyTorch has) and ``isclose``
METHODS = tuple(_OPS) + ("isclose",)

add_methods({name: method_of(fn) for name, fn in _OPS.items()})
add_methods({"isclose": method_of(binary_ops.isclose)})
add_methods({f"{name}_": _in_place(fn, f"{name}_") for name, fn in (*_OPS.items(), *_IN_PLACE.items())})
