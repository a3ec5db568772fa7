"""Lazy modules, PyTorch's: ``LazyLinear``, ``LazyConv1d/2d``, ``LazyConvTranspose1d/2d``,
``LazyBatchNorm1d/2d`` and ``LazyInstanceNorm1d/2d`` infer their input size
(``in_features``, ``in_channels``, ``num_features``) from the first input they are
called with, create their parameters then with PyTorch's initialisation, and become the
ordinary module (``type(m)`` is ``Linear`` afterwards, as PyTorch's ``cls_to_become``).

Until then their parameters and buffers are an :class:`UninitializedParameter` /
:class:`UninitializedBuffer`: real tensors of shape ``(0,)`` that are materialised *in
place* (the same objects get their data and become a ``Parameter``/``Tensor``), so an
optimizer built before the first call updates them afterwards, as in PyTorch.
Differences from PyTorch: before initialisation the placeholders have shape ``(0,)``
(PyTorch's raise on any use) and ``state_dict()`` holds empty tensors for them;
``load_state_dict`` materialises a lazy module from the state dict's shapes, as
PyTorch's; a lazy norm layer with nothing to create (no affine, no running statistics)
still records ``num_features`` from its first input (PyTorch's stays 0). The first call
must run eagerly: inside ``tm.jit`` it raises, since a traced initialisation would be
replayed at every step.
"""
import numpy as np

from ..errors import DTypeError, ShapeError, TVMiniError
from ..graph import Tensor, dispatch, empty, no_grad
from . import init
from .layers import BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Linear
from .module import Module, Parameter
from .normalization import InstanceNorm1d, InstanceNorm2d


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (shape ``(0,)`` until
    :meth:`materialize` gives it one and makes it a plain :class:`Parameter`)."""

    __slots__ = ()

    def __init__(self, requires_grad=True, device=None, dtype="float32"):
        super().__init__(empty(0, dtype=dtype, device=device), requires_grad=requires_grad)

    def materialize(self, shape, device=None, dtype=None):
        """Give this parameter uninitialised data of ``shape`` (in place): it becomes a
        :class:`Parameter` (the object stays the same, as optimizers hold it)."""
        self._data = empty(*shape, dtype=dtype or self.dtype, device=device or self.device)._data
        self.__class__ = Parameter


class UninitializedBuffer(Tensor):
    """A buffer whose shape is not known yet (see :class:`UninitializedParameter`)."""

    __slots__ = ()

    def __init__(self, device=None, dtype="float32"):
        super().__init__(empty(0, dtype=dtype, device=device)._data)

    def materialize(self, shape, device=None, dtype=None):
        """Give this buffer uninitialised data of ``shape``; it becomes a plain Tensor."""
        self._data = empty(*shape, dtype=dtype or self.dtype, device=device or self.device)._data
        self.__class__ = Tensor


def _uninitialized(t):
    return isinstance(t, (UninitializedParameter, UninitializedBuffer))


class LazyModuleMixin:
    """What the Lazy modules share: inference of the input size at the first call or
    from a state dict, materialisation of every placeholder, the module's own
    initialisation, and the change of class. A subclass names ``cls_to_become`` and
    defines ``_features_of_input(x)``, ``_features_of_state(name, shape)`` (None where
    that entry does not tell), ``_set_features(n)``, ``_shape_of(name)`` and ``_reset()``."""

    cls_to_become = None

    def has_uninitialized_params(self):
        """Whether a parameter or buffer of this module still waits for its shape."""
        return any(_uninitialized(t) for t in (*self._parameters.values(), *self._buffers.values()))

    def __call__(self, *args, **kwargs):
        if type(self) is not self.cls_to_become:          # still lazy: the first call
            if dispatch.thread.tracer is not None:
                raise TVMiniError(f"{type(self).__name__}: a lazy module must be called once eagerly (a dry run) "
                                  "before tm.jit traces it; its parameters do not exist yet")
            if not args or not isinstance(args[0], Tensor):
                raise DTypeError(f"{type(self).__name__}: expected a Tensor input to infer its size from, got "
                                 f"{type(args[0]).__name__ if args else 'nothing'}")
            self._materialize(self._features_of_input(args[0]))
        return Module.__call__(self, *args, **kwargs)

    def _materialize(self, features):
        self._set_features(int(features))
        with no_grad():
            for registry in (self._parameters, self._buffers):
                for name, t in registry.items():
                    if _uninitialized(t):
                        t.materialize(self._shape_of(name))
            self._reset()
        self.__class__ = self.cls_to_become

    def _materialize_from_state(self, state_dict, prefix):
        """Before ``load_state_dict`` copies values: take the size from the first entry
        of ``state_dict`` that tells it."""
        if not self.has_uninitialized_params():
            return
        for registry in (self._parameters, self._buffers):
            for name, t in registry.items():
                if _uninitialized(t) and prefix + name in state_dict:
                    features = self._features_of_state(name, tuple(np.shape(state_dict[prefix + name])))
                    if features is not None:
                        self._materialize(features)
                        return


class _LazyAffine(LazyModuleMixin):
    """Linear and the convolutions: placeholders for ``weight`` and ``bias``."""

    def _placeholders(self, bias, dtype):
        self.weight = UninitializedParameter(dtype=dtype)
        self.bias = UninitializedParameter(dtype=dtype) if bias else None

    def _reset(self):
        self.reset_parameters()


class LazyLinear(_LazyAffine, Linear):
    """:class:`Linear` whose ``in_features`` is the last axis of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, dtype="float32"):
        Linear.__init__(self, 1, out_features, bias, dtype)
        self.in_features = 0
        self._placeholders(bias, dtype)

    def _features_of_input(self, x):
        if x.ndim == 0:
            raise ShapeError(f"{type(self).__name__}: expected an input with at least 1 dimension, got a 0-d tensor")
        return x.shape[-1]

    def _features_of_state(self, name, shape):
        return shape[1] if name == "weight" and len(shape) == 2 else None

    def _set_features(self, n):
        self.in_features = n

    def _shape_of(self, name):
        return (self.out_features, self.in_features) if name == "weight" else (self.out_features,)


class _LazyConvolution(_LazyAffine):
    """The convolutions: ``in_channels`` is axis 1 of a batched first input (axis 0
    unbatched); ``groups`` must divide it."""

    transposed = False

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", dtype="float32"):
        self.cls_to_become.__init__(self, _channels_for(groups), out_channels, kernel_size, stride, padding, dilation,
                                    groups, bias, padding_mode, dtype)
        self.in_channels = 0
        self._placeholders(bias, dtype)

    def _features_of_input(self, x):
        if x.ndim not in (self.spatial + 1, self.spatial + 2):
            raise ShapeError(f"{type(self).__name__}: expected a {self.spatial + 1}-D (unbatched) or "
                             f"{self.spatial + 2}-D input, got shape {x.shape}")
        return x.shape[1 if x.ndim == self.spatial + 2 else 0]

    def _features_of_state(self, name, shape):
        if name != "weight" or len(shape) != self.spatial + 2:
            return None
        return shape[0] if self.transposed else shape[1] * self.groups

    def _set_features(self, n):
        if n % self.groups:
            raise TVMiniError(f"{type(self).__name__}: in_channels ({n}) must be divisible by groups ({self.groups})")
        self.in_channels = n

    def _shape_of(self, name):
        return self._weight_shape() if name == "weight" else (self.out_channels,)


class LazyConv1d(_LazyConvolution, Conv1d):
    """:class:`Conv1d` whose ``in_channels`` comes from its first input."""
    cls_to_become = Conv1d


class LazyConv2d(_LazyConvolution, Conv2d):
    """:class:`Conv2d` whose ``in_channels`` comes from its first input."""
    cls_to_become = Conv2d


class _LazyTransposed(_LazyConvolution):
    """The transposed convolutions (their argument order: ``output_padding`` before
    ``groups``, ``dilation`` after ``bias``)."""

    transposed = True

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", dtype="float32"):
        self.cls_to_become.__init__(self, _channels_for(groups), out_channels, kernel_size, stride, padding,
                                    output_padding, groups, bias, dilation, padding_mode, dtype)
        self.in_channels = 0
        self._placeholders(bias, dtype)


def _channels_for(groups):
    """A stand-in ``in_channels`` the ordinary constructor accepts (its checks of
    ``groups`` then apply as they are)."""
    return groups if isinstance(groups, int) and groups > 0 else 1


class LazyConvTranspose1d(_LazyTransposed, ConvTranspose1d):
    """:class:`ConvTranspose1d` whose ``in_channels`` comes from its first input."""
    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyTransposed, ConvTranspose2d):
    """:class:`ConvTranspose2d` whose ``in_channels`` comes from its first input."""
    cls_to_become = ConvTranspose2d


class _LazyNorm(LazyModuleMixin):
    """Batch and instance norm: ``num_features`` is the channel axis of the first input;
    placeholders for the affine ``weight``/``bias`` and the running statistics there
    are (``num_batches_tracked`` is a real 0-d tensor from the start, as PyTorch's)."""

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype="float32"):
        self.cls_to_become.__init__(self, 0, eps, momentum, affine, track_running_stats, dtype)
        if affine:
            self.weight = UninitializedParameter(dtype=dtype)
            self.bias = UninitializedParameter(dtype=dtype)
        if track_running_stats:
            self.register_buffer("running_mean", UninitializedBuffer(dtype=dtype))
            self.register_buffer("running_var", UninitializedBuffer(dtype=dtype))

    def _features_of_input(self, x):
        if x.ndim < 2:
            raise ShapeError(f"{type(self).__name__}: expected an input with a channel axis (at least 2-D), got "
                             f"shape {x.shape}")
        return x.shape[1]

    def _features_of_state(self, name, shape):
        return shape[0] if name in ("weight", "bias", "running_mean", "running_var") and len(shape) == 1 else None

    def _set_features(self, n):
        self.num_features = n

    def _shape_of(self, name):
        return (self.num_features,)

    def _reset(self):
        for t, fill in ((self.weight, init.ones_), (self.bias, init.zeros_), (self.running_mean, init.zeros_),
                        (self.running_var, init.ones_)):
            if t is not None:
                fill(t)


class LazyBatchNorm1d(_LazyNorm, BatchNorm1d):
    """:class:`BatchNorm1d` whose ``num_features`` comes from its first input."""
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNorm, BatchNorm2d):
    """:class:`BatchNorm2d` whose ``num_features`` comes from its first input."""
    cls_to_become = BatchNorm2d


class _LazyInstanceNorm(_LazyNorm):
    """Instance norm: PyTorch's Lazy defaults ``affine=True`` and
    ``track_running_stats=True`` (unlike ``InstanceNorm``'s); an unbatched input's
    channels are its axis 0 (PyTorch's Lazy instance norms read axis 1 there too)."""

    def _features_of_input(self, x):
        if x.ndim not in (self.spatial + 1, self.spatial + 2):
            raise ShapeError(f"{type(self).__name__}: expected a {self.spatial + 1}-D (unbatched) or "
                             f"{self.spatial + 2}-D input, got shape {x.shape}")
        return x.shape[0 if x.ndim == self.spatial + 1 else 1]


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    """:class:`InstanceNorm1d` whose ``num_features`` comes from its first input."""
    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    """:class:`InstanceNorm2d` whose ``num_features`` comes from its first input."""
    cls_to_become = InstanceNorm2d
