"""Reverse-mode autodiff on a dynamic tape.

Every differentiable op is a :class:`Function`: ``forward`` computes NDArrays with
compiled kernels (and saves what the gradient needs), ``backward`` returns the gradient
of each input as graph Tensors built from other ops. When grad mode is on and some input
requires a gradient, :meth:`Function.apply` records the Function on its output tensor
(``tensor._ctx``); the chain of ``_ctx.inputs`` is the tape.

:func:`backward` walks the tape in reverse topological order (an iterative depth-first
sort, so deep graphs never hit Python's recursion limit), sums the gradients reaching
each tensor, accumulates them into leaf tensors' ``.grad`` (until zeroed, as in PyTorch)
and then frees the tape: every Function it visited drops its inputs and saved arrays,
so intermediate results die with the last user reference and a second backward through
the same graph raises an error instead of reading freed state. ``retain_graph=True``
keeps the tape for another backward, as PyTorch's (PyTorch lets a second backward
through a graph whose ops saved nothing pass; here any freed graph raises).
"""
import contextlib
import functools
import inspect
import threading

from ..errors import AutogradError, TVMiniError
from ..runtime import ndarray as nd
from . import dispatch


class _GradMode(threading.local):
    """Grad mode, per thread (as PyTorch's); a class attribute gives each thread's
    default without the exception a missing thread-local attribute costs."""
    enabled = True


_state = _GradMode()

#: ``Tensor._wrap`` (a Tensor around an NDArray), set by ``graph/tensor.py`` when it
#: loads: it imports this module, and an import inside ``apply`` would cost every op
#: about 0.4 us.
wrap = None


def is_grad_enabled():
    """Whether ops record history (False inside :func:`no_grad`)."""
    return _state.enabled


class _GradModeSetter(contextlib.ContextDecorator):
    """Base of :class:`no_grad` and :class:`enable_grad`: a context manager that sets grad
    mode to ``mode`` and restores it, and a decorator that sets it in each call of the
    function — in each step of a generator function's generator too, as PyTorch's (the
    caller's mode holds between its yields)."""
    mode = None

    def __enter__(self):
        self._previous = is_grad_enabled()
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self._previous
        return False

    def _recreate_cm(self):
        # a fresh one per call: a recursive call must not overwrite the outer one's _previous
        return type(self)()

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):
            return _each_step_in(fn, self._recreate_cm)
        return super().__call__(fn)


def _each_step_in(fn, context):
    """Generator function ``fn`` with each step of its generator (a ``send``, ``throw``
    or ``close``) run inside ``context()``."""
    @functools.wraps(fn)
    def generator(*args, **kwargs):
        gen = fn(*args, **kwargs)
        resume, value = gen.send, None
        while True:
            try:
                with context():
                    item = resume(value)
            except StopIteration as stop:
                return stop.value
            try:
                value, resume = (yield item), gen.send
            except GeneratorExit:
                with context():
                    gen.close()
                raise
            except BaseException as error:       # thrown in by the caller: into fn's generator
                resume, value = gen.throw, error
    return generator


class no_grad(_GradModeSetter):
    """Context manager (and decorator) under which ops record no history."""
    mode = False


class enable_grad(_GradModeSetter):
    """Context manager turning grad mode back on (inside a :class:`no_grad`)."""
    mode = True


class Function:
    """One differentiable op: subclasses define ``forward(*arrays)`` and ``backward(grad)``.

    ``forward`` receives the inputs' NDArrays (attributes given to :meth:`apply` are set
    on the instance first) and returns the output NDArray; it may store what the gradient
    needs on ``self``. ``backward`` receives the output's gradient (a Tensor) and returns
    one gradient Tensor (or None) per input, each with that input's shape.
    """

    # _needs: which inputs required a gradient when the op ran (PyTorch's graph is fixed
    # then: turning requires_grad on afterwards does not send a gradient there)
    __slots__ = ("inputs", "_versions", "_needs", "__dict__")

    #: Inputs that are not differentiated (integer labels, masks): indices into inputs.
    nondiff = ()

    #: Indices of the inputs whose *values* ``backward`` reads (None: all of them); an
    #: op whose gradient needs only shapes (add, reshape ...) lists none, so writing its
    #: inputs in place afterwards is allowed, as in PyTorch.
    saved = None

    #: True for ops whose PyTorch counterpart returns a view of the input (reshape,
    #: transpose, broadcast, basic indexing): their output is marked ``_aliased``.
    aliases = False

    @classmethod
    def apply(cls, *inputs, **attrs):
        """Run the op on Tensors ``inputs``; record it when a gradient is needed."""
        fn = cls.__new__(cls)
        fn.__dict__ = attrs             # a new dict of this call's keyword arguments
        out = wrap(fn.forward(*[t._data for t in inputs]))
        out._aliased = cls.aliases
        if _state.enabled:
            for i, t in enumerate(inputs):
                if t.requires_grad and i not in cls.nondiff:
                    fn.inputs = inputs
                    fn._versions = [u._data._version for u in inputs]
                    fn._needs = [u.requires_grad for u in inputs]
                    out.requires_grad = True
                    out._ctx = fn
                    break
        return out

    def check_versions(self):
        """Raise if an array ``backward`` reads was written in place since the forward
        (its version moved on): the gradient would silently use the new values."""
        saved = range(len(self.inputs)) if self.saved is None else self.saved
        for i in saved:
            t = self.inputs[i]
            if t._data._version != self._versions[i]:
                self._stale(f"input {i}", t.shape, t._data._version, self._versions[i])
        out = self.__dict__.get("out")
        if out is not None and getattr(out, "_version", 0):
            self._stale("output", out.shape, out._version, 0)

    def _stale(self, what, shape, version, expected):
        raise AutogradError(
            f"one of the variables needed for gradient computation has been modified by an inplace operation: "
            f"the {what} of {type(self).__name__}{'(' + self.op + ')' if 'op' in self.__dict__ else ''}, "
            f"a tensor of shape {shape}, is at version {version}; expected version {expected}")

    def free(self):
        """Drop the tape links and saved arrays (after backward); a ``retain_grad()`` mark
        stays (PyTorch's ``retains_grad`` still reads True)."""
        retains = self.__dict__.get("retains_grad")
        self.inputs = self._versions = self._needs = None
        self.__dict__.clear()
        if retains:
            self.retains_grad = True


def previous_value(tensor, copy):
    """A tensor standing for ``tensor``'s value before an in-place op overwrites it: its
    history (``_ctx``) over its array, or over a copy of it when the op's gradient
    reads the value (PyTorch saves the original too)."""
    old = wrap(nd.array(tensor._data) if copy else tensor._data)
    old.requires_grad, old._ctx = tensor.requires_grad, tensor._ctx
    return old


class _Overwritten(Function):
    """The history of a tracked tensor overwritten in place by a value that has none (a
    logical op's truth values, ``y.logical_and_(m)``): it still requires grad, as
    PyTorch's, but sends no gradient to what it held before (the written values are not
    a differentiable function of it)."""
    saved = ()

    def backward(self, g):
        return (None,)


def _overwritten(old):
    fn = _Overwritten.__new__(_Overwritten)
    fn.__dict__ = {}
    fn.inputs, fn._versions, fn._needs = (old,), [old._data._version], [False]
    return fn


def rebase(tensor, old, result):
    """Make ``tensor``, just overwritten in place with ``result`` (computed from ``old``,
    see :func:`previous_value`), the output of ``result``'s op: PyTorch's rebase of
    history. An op recorded before took ``tensor`` at an older version of its array;
    its gradient goes to ``old`` (:func:`recorded_inputs`), and if it saved the values
    they were overwritten, which its version check reports at backward. A ``result``
    without history leaves a tracked ``tensor`` tracked with no gradient to ``old``
    (:class:`_Overwritten`), an untracked one as it is. A ``retain_grad()`` moves to
    the new history: ``.grad`` is the gradient of the tensor's current value."""
    fn = result._ctx
    if fn is None:
        if not tensor.requires_grad:
            return
        fn = _overwritten(old)
    if tensor._ctx is not None and tensor._ctx.__dict__.pop("retains_grad", False):
        fn.retains_grad = True
    fn.rebased = (old, tensor._data, tensor._data._version)
    tensor._ctx, tensor.requires_grad = fn, True


def recorded_inputs(fn):
    """``fn``'s inputs as they stood when it ran: an input whose history an in-place op
    rebased since (its array's version moved past the rebase) is replaced by the
    tensor standing for its value then."""
    return [t if t._data._version == version else _as_recorded(t, version)
            for t, version in zip(fn.inputs, fn._versions)]


def _as_recorded(t, version):
    array = t._data
    while t._ctx is not None:
        rebased = t._ctx.__dict__.get("rebased")
        if rebased is None or rebased[1] is not array or version >= rebased[2]:
            break
        t = rebased[0]
    return t


def _topological_order(root):
    """Tensors reachable from ``root`` through recorded Functions, outputs before inputs,
    and each Function's :func:`recorded_inputs` by its id: resolved once, before any
    Function is freed (freeing one drops the record of a rebase that an op recorded
    earlier still needs to find its input)."""
    order, visited, inputs = [], set(), {}
    stack = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        fn = tensor._ctx
        if fn is not None:
            if fn.inputs is None:
                raise AutogradError(
                    f"Trying to backward through the graph a second time: an earlier backward() freed it (at "
                    f"{type(fn).__name__}, the op that made a tensor of shape {tensor.shape}); specify "
                    "retain_graph=True in the first backward() to backward through it again, or compute the "
                    "forward again")
            inputs[id(fn)] = recorded = recorded_inputs(fn)
            stack.extend((t, False) for t, need in zip(recorded, fn._needs) if need)
    order.reverse()
    return order, inputs


def _accumulate(tensor, g, taken):
    """Add gradient ``g`` into ``tensor.grad`` (a leaf's, or a ``retain_grad()`` tensor's);
    a first gradient is stored as it is unless another tensor has it (``taken``)."""
    if tensor.grad is not None:
        tensor.grad = tensor.grad + g
        return
    tensor.grad = wrap(nd.array(g._data)) if id(g) in taken else g
    tensor.grad._aliased = False       # a tensor's gradient is its own
    taken.add(id(tensor.grad))


def backward(root, grad, retain_graph=False):
    """Accumulate d(root)/d(leaf) · ``grad`` into every leaf's ``.grad``, then free the
    tape (kept with ``retain_graph``)."""
    order, inputs = _topological_order(root)
    grads = {id(root): grad}
    # A leaf's new .grad must be its own tensor: not the caller's head gradient, nor one
    # already given to another leaf (add passes one gradient to both operands), else
    # editing one (zero_grad(set_to_none=False), clipping) would change the other. Only
    # those few are copied; a gradient a kernel just made is stored as it is.
    taken = {id(grad)}
    with no_grad():
        for tensor in order:
            g = grads.pop(id(tensor), None)
            fn = tensor._ctx
            if fn is None:
                if g is not None:
                    tracer = dispatch.thread.tracer
                    if tracer is not None:
                        tracer.touch_grad(tensor, reads=True)
                    _accumulate(tensor, g, taken)
                continue
            if g is not None and fn.__dict__.get("retains_grad"):
                _accumulate(tensor, g, taken)
            if g is None:
                if not retain_graph:
                    fn.free()
                continue
            fn.check_versions()
            input_grads = fn.backward(g)
            for i, (t, gi) in enumerate(zip(inputs[id(fn)], input_grads)):
                if gi is None or not fn._needs[i] or i in fn.nondiff:
                    continue
                if gi.shape != t.shape:
                    raise TVMiniError(f"{type(fn).__name__}.backward returned gradient of shape {gi.shape} "
                                      f"for input {i} of shape {t.shape}")
                previous = grads.get(id(t))
                grads[id(t)] = gi if previous is None else previous + gi
            if not retain_graph:
                fn.free()

