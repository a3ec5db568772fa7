"""Module and Parameter: how layers own their tensors.

A :class:`Parameter` is a Tensor that requires a gradient and that a Module registers
when it is assigned as an attribute; sub-modules (also inside :class:`ModuleList` and
:class:`Sequential`) and buffers (running statistics, :meth:`Module.register_buffer`)
register the same way. Registration order is kept, so ``named_parameters`` and
``state_dict`` keys are stable ("0.weight", "bn.running_mean", ...), as in PyTorch.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from ..errors import DTypeError, ParameterError, ShapeError, TVMiniError
from ..graph import Tensor, dispatch, no_grad
from ..runtime import as_device


#: what ``Module.to("...")`` reads as a dtype rather than a device
_DTYPE_NAMES = ("float16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool")


class Parameter(Tensor):
    """A tensor a Module owns and an optimizer updates: ``Parameter(tensor)`` shares
    ``tensor``'s data and requires a gradient (unless ``requires_grad=False``)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data._data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __setattr__(self, name, value):
        """``p.grad`` takes a Tensor or None, as PyTorch's; anything else is refused here
        (it broke the next op far away with a raw AttributeError). ``p.data = t`` is
        ``Tensor.data``'s. (Only parameters check: a plain tensor's attributes are set on
        every op's hot path.)"""
        if name == "grad" and value is not None and not isinstance(value, Tensor):
            raise DTypeError(f"Parameter of shape {self.shape}: .grad takes a Tensor or None, got "
                             f"{type(value).__name__} (wrap an array with tm.tensor)")
        object.__setattr__(self, name, value)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """A tensor to register as a buffer (PyTorch 2.5's ``nn.Buffer``): assigned to a
    Module attribute (``self.steps = nn.Buffer(tm.zeros(()))``) it is registered with
    ``register_buffer``, sharing ``data``'s memory; the attribute then holds a plain
    Tensor, as in PyTorch. ``persistent=False`` keeps it out of ``state_dict``."""

    __slots__ = ("persistent",)

    def __init__(self, data=None, *, persistent=True):
        if data is None:
            data = np.zeros(0, "float32")
        super().__init__(data._data if isinstance(data, Tensor) else data)
        self.persistent = bool(persistent)


#: what ``load_state_dict`` returns, as PyTorch's (a tuple with these two fields)
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers: assign Parameters, Modules and buffers as attributes,
    define ``forward``, call the module."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise TVMiniError(f"{type(self).__name__}: call super().__init__() before assigning {name!r}")
        if isinstance(value, Buffer):
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
            self.register_buffer(name, Tensor._wrap(value._data), persistent=value.persistent)
            return
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._buffers.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = value
        elif name in self._parameters and value is not None:
            # PyTorch raises here too: replacing a registered Parameter by a plain tensor
            # (or anything else) would silently drop it from parameters() and state_dict()
            raise ParameterError(f"{type(self).__name__}: cannot assign {type(value).__name__} as parameter "
                                 f"{name!r} (nn.Parameter or None expected)")
        elif name in self._parameters:       # None: the slot stays registered, empty (PyTorch)
            self._parameters[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TVMiniError(f"{type(self).__name__}.{name} is a buffer; assign a Tensor or None")
            self._buffers[name] = value
        else:
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor, persistent=True):
        """Register a non-parameter tensor (running statistics) saved in ``state_dict``
        (unless ``persistent=False``: moved by ``to()``, listed by ``buffers()``, not saved)."""
        self._buffers[name] = tensor
        transient = self.__dict__.setdefault("_non_persistent", set())
        if persistent:
            transient.discard(name)
        else:
            transient.add(name)
        object.__setattr__(self, name, tensor)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter or None) under ``name``."""
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def add_module(self, name, module):
        setattr(self, name, module)

    # ---- calling ----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        tracer = dispatch.thread.tracer
        if tracer is not None:          # tm.jit: the trace depends on self.training
            tracer.saw_module(self)
        return self.forward(*args, **kwargs)

    # ---- traversal --------------------------------------------------------------------
    def named_modules(self, prefix=""):
        """(name, module) for this module and every descendant, depth first."""
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        return (m for _, m in self.named_modules())

    def children(self):
        return (m for m in self._modules.values() if m is not None)

    def named_children(self):
        return ((k, m) for k, m in self._modules.items() if m is not None)

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter), each shared parameter once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for name, module in modules:
            for key, param in module._parameters.items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{name}.{key}" if name else key), param

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix=""):
        for name, module in self.named_modules(prefix):
            for key, buf in module._buffers.items():
                if buf is not None:
                    yield (f"{name}.{key}" if name else key), buf

    def buffers(self):
        return (b for _, b in self.named_buffers())

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant, then on this module; returns self."""
        for module in reversed(list(self.modules())):
            fn(module)
        return self

    # ---- modes and devices ------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (BatchNorm uses batch statistics, Dropout drops) recursively."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: BatchNorm uses its running statistics, Dropout is the identity."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's gradient."""
        tracer = dispatch.thread.tracer
        for p in self.parameters():
            if tracer is not None:
                tracer.touch_grad(p, reads=False)
            p.grad = None if set_to_none or p.grad is None else p.grad.zero_()

    def to(self, device=None, dtype=None):
        """Move every parameter and buffer to ``device`` and/or convert the floating-point
        ones to ``dtype``, in place; returns self. ``to("float64")`` means a dtype."""
        if isinstance(device, str) and device in _DTYPE_NAMES:
            device, dtype = None, device
        if dtype is not None and not str(dtype).startswith("float"):
            raise TVMiniError(f"{type(self).__name__}.to: parameters and buffers move to a floating-point dtype, "
                              f"not {dtype!r}")
        device = None if device is None else as_device(device)
        for tensor in list(self.parameters()) + list(self.buffers()):
            if device is not None and tensor.device != device:
                tensor._data = tensor._data.copyto(device)
                if tensor.grad is not None:
                    tensor.grad = tensor.grad.to(device)
            if dtype is not None and tensor.dtype.startswith("float") and tensor.dtype != dtype:
                with no_grad():
                    tensor._data = tensor.to(dtype=dtype)._data
                    tensor.grad = None if tensor.grad is None else tensor.grad.to(dtype=dtype)
        return self

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    def half(self):
        return self.to(dtype="float16")

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # ---- state ------------------------------------------------------------------------
    def _named_state(self, prefix=""):
        """(dotted name, tensor) of every parameter and buffer in PyTorch's ``state_dict``
        order: module by module, depth first, each module's parameters then its
        buffers; a tensor two modules hold (tied weights) under both names."""
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            dot = f"{name}." if name else ""
            transient = module.__dict__.get("_non_persistent", ())
            yield from ((dot + key, t) for key, t in module._parameters.items() if t is not None)
            yield from ((dot + key, t) for key, t in module._buffers.items() if t is not None and key not in transient)
            stack.extend(reversed([(dot + key, m) for key, m in module._modules.items() if m is not None]))

    def state_dict(self):
        """Parameters and buffers by dotted name, as PyTorch's (its key order, a key per
        name of a tied weight), as snapshots (copies without history): optimizers
        double-buffer parameters, so a view of today's buffer would be overwritten two
        steps later."""
        return OrderedDict((name, t.detach().clone()) for name, t in self._named_state())

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` into the parameters and buffers in place.

        With ``strict`` (the default) the keys must match exactly; shapes must always
        match. Raises :class:`~tvmini.errors.ShapeError`/``TVMiniError`` naming the keys.
        Returns ``(missing_keys, unexpected_keys)`` as a named tuple, as PyTorch's.
        A Lazy module not initialised yet first takes its shapes from ``state_dict``.
        """
        for prefix, module in self.named_modules():
            from_state = getattr(module, "_materialize_from_state", None)
            if from_state is not None:
                from_state(state_dict, f"{prefix}." if prefix else "")
        own = OrderedDict(self._named_state())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise TVMiniError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                              f"unexpected keys {unexpected}")
        for name, target in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
            if tuple(array.shape) != target.shape:
                raise ShapeError(f"load_state_dict for {type(self).__name__}: {name} has shape "
                                 f"{tuple(array.shape)} in the state dict but {target.shape} in the module")
            with no_grad():
                target.copy_(array.astype(target.dtype, copy=False))
        return IncompatibleKeys(missing, unexpected)

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"

    def extra_repr(self):
        return ""


class ModuleList(Module):
    """A list of modules, each registered (names "0", "1", ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        if not isinstance(module, Module):
            raise TVMiniError(f"ModuleList holds Modules, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return type(self)(items[index]) if type(self) is ModuleList else Sequential(*items[index])
        return items[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied in order: ``Sequential(Linear(2, 8), ReLU(), Linear(8, 1))``."""

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], dict):
            Module.__init__(self)
            for name, module in modules[0].items():
                setattr(self, name, module)
        else:
            super().__init__(modules)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class _RegisteredDict(Module):
    """What ModuleDict and ParameterDict share: entries registered by name as attributes
    (insertion order kept), held in the Module's ``_STORE`` dict; a subclass's
    ``__setitem__`` checks or converts what it holds."""

    _STORE = None

    def __init__(self, entries=None):
        super().__init__()
        for name, value in dict(entries or {}).items():
            self[name] = value

    def _entries(self):
        return getattr(self, self._STORE)

    def __getitem__(self, name):
        return self._entries()[name]

    def __delitem__(self, name):
        """Remove the entry ``name``, its attribute too (KeyError if there is none)."""
        if name not in self._entries():
            raise KeyError(name)
        delattr(self, name)

    def __contains__(self, name):
        return name in self._entries()

    def __len__(self):
        return len(self._entries())

    def __iter__(self):
        return iter(self._entries())

    def update(self, entries):
        for name, value in dict(entries).items():
            self[name] = value

    def pop(self, name):
        value = self._entries()[name]
        del self[name]
        return value

    def keys(self):
        return self._entries().keys()

    def values(self):
        return self._entries().values()

    def items(self):
        return self._entries().items()


class ModuleDict(_RegisteredDict):
    """Modules by name, each registered under its key (insertion order kept)."""

    _STORE = "_modules"

    def __setitem__(self, name, module):
        if not isinstance(module, Module):
            raise TVMiniError(f"ModuleDict holds Modules, got {type(module).__name__} for {name!r}")
        setattr(self, name, module)


class ParameterDict(_RegisteredDict):
    """Parameters by name, each registered under its key (a tensor given is wrapped in a
    Parameter, as PyTorch's)."""

    _STORE = "_parameters"

    def __setitem__(self, name, parameter):
        if not isinstance(parameter, Tensor):
            raise TVMiniError(f"ParameterDict holds tensors, got {type(parameter).__name__} for {name!r}")
        setattr(self, name, parameter if isinstance(parameter, Parameter) else Parameter(parameter))


class ParameterList(Module):
    """A list of Parameters, each registered (names "0", "1", ...)."""

    def __init__(self, parameters=()):
        super().__init__()
        for p in parameters:
            self.append(p)

    def append(self, parameter):
        if not isinstance(parameter, Parameter):
            parameter = Parameter(parameter)
        setattr(self, str(len(self._parameters)), parameter)
        return self

    def extend(self, parameters):
        for p in parameters:
            self.append(p)
        return self

    def __getitem__(self, index):
        return list(self._parameters.values())[index]

    def __setitem__(self, index, parameter):
        key = list(self._parameters)[index]
        setattr(self, key, parameter if isinstance(parameter, Parameter) else Parameter(parameter))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())
