"""Recording one call of a step function as a :class:`~.ir.Program`.

While a :class:`Tracer` is installed on the calling thread (``dispatch.thread.tracer``,
plus the NDArray hook in ``runtime.ndarray``), the step runs eagerly as usual — its
results are right — and every kernel call, copy and array made from host data on that
thread is reported here and becomes a node or a value of the program:

* a kernel's inputs are looked up by array identity: the function's tensor arguments
  are ``input`` values, arrays made by earlier kernels ``temp`` values, arrays made from
  host data during the call ``const`` values, and any other array (a parameter, an
  optimizer state) is ``state``, captured by reference;
* the graph layer reports what the arrays alone do not say: a parameter's ``.grad``
  read or reset (``touch_grad``), a module called (its ``training`` flag guards the
  trace), and the scalars a replay computes anew (``Node.scalars_at_replay``: an
  optimizer's per-step scalars, a dropout call's seed);
* reading an array back to the host (``.numpy()``, ``.item()``) is an error: its value
  would be frozen into the trace. The graph layer may instead base a choice on an
  argument's values through ``guard_input``, which every replay checks.
"""
from ...errors import TVMiniError
from ...runtime import ndarray as nd
from .. import dispatch
from .ir import CONST, GRAD_IN, INPUT, OUTPUT, STATE, TEMP, Node, Program


class Tracer:
    """Records the kernel calls of one step; ``finish`` closes the program."""

    def __init__(self, arg_tensors):
        self.program = Program()
        self._values = {}          # id(NDArray) -> Value
        self._keep = []            # every array seen, so ids stay unique while tracing
        self._born = set()         # ids of arrays made from host data during the trace
        self.modules = {}          # id -> nn.Module called during the trace
        self.optimizers = {}       # id -> optimizer stepped during the trace
        self.leaves = {}           # id -> tensor whose .grad the step reads or sets
        self._grad_guard = []      # per leaf: None (any), True (.grad must be None), False (must not)
        self.input_guards = []     # (fetch(args) -> arrays, test, its result, chooses_path): host reads a replay repeats
        self._args = {id(t): i for i, t in enumerate(arg_tensors) if t is not None}
        for i, t in enumerate(arg_tensors):
            if t is not None and id(t._data) not in self._values:
                self._remember(t._data, self.program.new_value(t.shape, t.dtype, INPUT, binding=i))

    # ---- install / uninstall --------------------------------------------------------------
    def __enter__(self):
        if dispatch.thread.tracer is not None:
            raise TVMiniError("tm.jit: a jit function was called while another one is being traced; "
                              "trace the outer function only")
        dispatch.thread.tracer = self
        nd.thread_hooks.trace = self._array_event
        return self

    def __exit__(self, *exc):
        dispatch.thread.tracer = None
        nd.thread_hooks.trace = None
        return False

    # ---- values ---------------------------------------------------------------------------
    def _remember(self, array, value):
        self._values[id(array)] = value
        self._keep.append(array)
        return value

    def value_of(self, array):
        """The program value of ``array`` (a new const/state value the first time)."""
        value = self._values.get(id(array))
        if value is None:
            kind = CONST if id(array) in self._born else STATE
            value = self._remember(array, self.program.new_value(array.shape, array.dtype, kind, array=array))
        return value

    def _written(self, value):
        if value.kind == CONST:
            value.kind = STATE

    # ---- events from the graph layer ---------------------------------------------------------
    def kernel(self, module, name, define, attrs, inputs, outputs, scalars, scalar_dtypes):
        """A kernel call (``dispatch.run``/``run_inplace``); returns its node."""
        ins = [self.value_of(a) for a in inputs]
        inplace = any(o is a for o in outputs for a in inputs)
        if inplace:
            outs = [self.value_of(o) for o in outputs]
            for v in outs:
                self._written(v)
        else:
            outs = [self._remember(o, self.program.new_value(o.shape, o.dtype, TEMP, array=o)) for o in outputs]
        node = Node(name, ins, outs, define, attrs, module, scalars, scalar_dtypes, inplace)
        self.program.nodes.append(node)
        return node

    def _array_event(self, event, array, source):
        """The NDArray hook: ``("new", array, source)`` for an array made by ``nd.array`` or
        ``nd.zeros``, ``("copy", dst, src)`` for ``copyfrom``, ``("read", array, None)``."""
        if event == "read":
            raise TVMiniError("tm.jit: reading a tensor's value on the host (.numpy(), .item(), float(), "
                              "printing) inside a traced function would freeze it into the trace; return the "
                              "tensor from the function and read it outside")
        if event == "new":
            if isinstance(source, nd.NDArray):
                self._copy(source, array, fresh=True)
            else:
                self._born.add(id(array))
                self._keep.append(array)
            return
        if isinstance(source, nd.NDArray):
            self._copy(source, array, fresh=id(array) not in self._values and id(array) in self._born)
        else:                                    # host data into an array: copy a snapshot
            snapshot = nd.NDArray(array.shape, array.dtype, array.device)
            snapshot._storage.from_numpy(source)
            const = self._remember(snapshot, self.program.new_value(array.shape, array.dtype, CONST,
                                                                      array=snapshot))
            self._copy_values(const, array, fresh=False)

    def _copy(self, src, dst, fresh):
        self._copy_values(self.value_of(src), dst, fresh)

    def _copy_values(self, src, dst, fresh):
        if fresh:
            self._born.discard(id(dst))
            out = self._remember(dst, self.program.new_value(dst.shape, dst.dtype, TEMP, array=dst))
        else:
            out = self.value_of(dst)
            self._written(out)
        self.program.nodes.append(Node("copy", [src], [out], inplace=not fresh))

    def touch_grad(self, tensor, reads):
        """``tensor.grad`` is about to be used by the step: accumulated into by backward
        (``reads``: the program depends on whether it is None) or reset by ``zero_grad``."""
        if id(tensor) in self.leaves:
            return
        self.leaves[id(tensor)] = tensor
        self._grad_guard.append(tensor.grad is None if reads else None)
        if tensor.grad is not None:
            value = self.value_of(tensor.grad._data)
            if value.kind in (STATE, CONST):
                value.kind, value.binding, value.array = GRAD_IN, len(self.leaves) - 1, None

    def guard_input(self, array, test, chooses_path=True):
        """``test(array)`` (a function of the array's values on the host) for an array the
        step receives as an argument and has not written yet; a replay runs the test on
        its own argument and traces another variant when the answer differs, so a path
        chosen by the values (e.g. a loss without ignored labels) is never replayed for
        values that need another one, and a value check (``chooses_path=False``: indices
        in range) fails on the new trace as eagerly. None for any other array, which a
        replay cannot test: the caller takes the path right for any values."""
        return self.guard_inputs([array], test, chooses_path, constants=False)

    def guard_inputs(self, arrays, test, chooses_path=True, constants=True):
        """``test(*arrays)``, guarded as :meth:`guard_input`, for a check that reads
        several arrays together (CTC targets against their lengths): each an argument
        the step has not written or (``constants``) a constant of the trace (made from
        host data: the same in every replay); None when one is neither."""
        sources = []
        written = {id(v) for node in self.program.nodes for v in node.outputs}
        for array in arrays:
            value = self._values.get(id(array))
            if constants and (value is None and id(array) in self._born or value is not None and value.kind == CONST):
                sources.append(array)
            elif value is not None and value.kind == INPUT and id(value) not in written:
                sources.append(value.binding)
            else:
                return None
        result = test(*arrays)

        def fetch(tensors):
            return tuple(tensors[s]._data if isinstance(s, int) else s for s in sources)
        self.input_guards.append((fetch, test, result, chooses_path))
        return result

    def saw_module(self, module):
        self.modules.setdefault(id(module), module)

    def saw_optimizer(self, optimizer):
        """An optimizer stepped: its ``replay_guard()`` guards the trace."""
        self.optimizers.setdefault(id(optimizer), optimizer)

    # ---- the end of the call ------------------------------------------------------------------
    def finish(self, outputs):
        """Close the program: ``outputs`` (Tensors) are returned; leaves' grads are set.

        Returns the program and the grad guard: per leaf (in ``self.leaves`` order), whether
        its ``.grad`` must be None (True), must not be (False) or may be either (None) for
        this program to be valid."""
        program = self.program
        read = {v.id for node in program.nodes for v in node.inputs}
        guard = list(self._grad_guard)
        for v in program.values:
            if v.kind == GRAD_IN and v.id in read:
                guard[v.binding] = False
        for k, t in enumerate(outputs):
            program.outputs.append(self._as_output(t._data, ("out", k)))
        for k, leaf in enumerate(self.leaves.values()):
            grad = leaf.grad
            ref = ("arg", self._args[id(leaf)]) if id(leaf) in self._args else ("tensor", leaf)
            value = None if grad is None else self._as_output(grad._data, ("grad", k))
            program.grads.append((ref, value))
        return program, tuple(guard)

    def _as_output(self, array, binding):
        value = self.value_of(array)
        if value.kind == TEMP:
            value.kind, value.binding = OUTPUT, binding
            return value
        if value.kind == OUTPUT:
            return value
        out = self.program.new_value(value.shape, value.dtype, OUTPUT, binding=binding)
        self.program.nodes.append(Node("copy", [value], [out]))
        return out
