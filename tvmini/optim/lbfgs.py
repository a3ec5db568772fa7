"""L-BFGS with PyTorch's arguments and iteration: ``step(closure)`` runs up to
``max_iter`` quasi-Newton iterations on the parameters seen as one flat vector, the
direction from the two-loop recursion over the last ``history_size`` curvature pairs,
the step a fixed ``lr`` (the first one scaled by the gradient's size) or a strong-Wolfe
line search (``line_search_fn="strong_wolfe"``, see ``line_search.py``). It stops on a
small gradient (``tolerance_grad``), a small change of loss or step
(``tolerance_change``), or ``max_eval`` closure calls.

The vectors are flat graph tensors on the parameters' device (``cat`` of the
gradients, kernels for every product); the scalars of the iteration (dot products,
losses) are read back to the host, so a step is not traced by ``tm.jit``. Parameters
move by SGD's fused in-place kernel (each keeps its memory)."""
from ..errors import TVMiniError
from ..graph import enable_grad, join_ops, no_grad, ops
from ..graph.dispatch import run_inplace
from ..graph.tensor import Tensor
from ..runtime import ndarray as nd
from ..topi import optim as kernels
from .line_search import dot, strong_wolfe
from .optimizer import Optimizer, check_options


class LBFGS(Optimizer):
    """Limited-memory BFGS over all parameters at once (one parameter group only, as
    PyTorch's). ``step`` needs a ``closure`` that clears the gradients, computes the
    loss, calls ``backward()`` and returns the loss; it returns the first loss."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        check_options("LBFGS", [("learning rate", lr, 0.0 <= lr), ("max_iter value", max_iter, 1 <= max_iter),
                                ("history_size value", history_size, 1 <= history_size)])
        if line_search_fn not in (None, "strong_wolfe"):
            raise TVMiniError(f"LBFGS: only 'strong_wolfe' is supported as line_search_fn, got {line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, group):
        """The one parameter group (a second is refused, as PyTorch's LBFGS refuses it)."""
        if self.param_groups:
            raise TVMiniError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(group)

    def state_names(self, group):
        return ()

    def kernel(self, group, state):
        """The fused update that moves a parameter by ``t`` times its slice of the search
        direction: SGD's ``p - lr * g`` with ``lr = t`` and ``g`` the negated slice."""
        return kernels.sgd_update, (state["t"], 0.0), ()

    # ---- the parameters as one vector -----------------------------------------------------
    def _flat_grad(self):
        parts = [ops.reshape(p.grad, (-1,)) if p.grad is not None
                 else Tensor._wrap(nd.zeros((p.numel(),), p.dtype, p.device)) for p in self._params]
        return join_ops.cat(parts) if len(parts) > 1 else parts[0]

    def _move(self, t, d):
        """Every parameter ``p += t * d[its slice]``, in place."""
        group, start = self.param_groups[0], 0
        with no_grad():
            for p in self._params:
                count = p.numel()
                down = ops.reshape(-d[start:start + count], p.shape)
                kernel, scalars, attrs = self.kernel(group, {"t": t})
                run_inplace("lbfgs_update", kernel, [p._data, down._data], [0], scalars, (p.dtype,) * 2, attrs)
                start += count

    def _evaluate(self, closure, origin, t, d):
        """(loss, flat gradient) at ``origin + t d``; the parameters return to ``origin``."""
        self._move(t, d)
        with enable_grad():
            loss = float(closure())
        grad = self._flat_grad()
        with no_grad():
            for p, value in zip(self._params, origin):
                p.copy_(value)
        return loss, grad

    # ---- one call -------------------------------------------------------------------------
    def step(self, closure):
        """Run the iterations (see the module docstring); returns the closure's first loss."""
        if closure is None:
            raise TVMiniError("LBFGS.step needs a closure that reevaluates the model and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change, history = group["tolerance_grad"], group["tolerance_change"], group["history_size"]
        state = self.state.setdefault(id(self._params[0]), {"func_evals": 0, "n_iter": 0})
        with enable_grad():
            first_loss = closure()
        loss, evaluations = float(first_loss), 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if ops.max(ops.abs(flat_grad)).item() <= tol_grad:
            return first_loss
        d, t, prev_grad, prev_loss = state.get("d"), state.get("t"), state.get("prev_flat_grad"), state.get("prev_loss")
        dirs, steps, rho, h_diag = (state.get("old_dirs", []), state.get("old_stps", []), state.get("ro", []),
                                    state.get("H_diag", 1.0))
        iterations = 0
        while iterations < max_iter:
            iterations += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, dirs, steps, rho, h_diag = -flat_grad, [], [], [], 1.0
            else:
                dirs, steps, rho, h_diag = _remember(flat_grad - prev_grad, d * t, dirs, steps, rho, h_diag, history)
                d = _two_loop(flat_grad, dirs, steps, rho, h_diag)
            prev_grad, prev_loss = flat_grad, loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / ops.sum(ops.abs(flat_grad)).item()) * lr
            else:
                t = lr
            slope = dot(flat_grad, d)
            if slope > -tol_change:         # not a descent direction (any more)
                break
            if group["line_search_fn"] is not None:
                with no_grad():
                    origin = [p.clone() for p in self._params]
                loss, flat_grad, t, used = strong_wolfe(lambda s: self._evaluate(closure, origin, s, d), t, d, loss,
                                                        flat_grad, slope)
                self._move(t, d)
            else:
                self._move(t, d)
                used = 0
                if iterations != max_iter:
                    with enable_grad():
                        loss = float(closure())
                    flat_grad, used = self._flat_grad(), 1
            evaluations += used
            state["func_evals"] += used
            if (iterations == max_iter or evaluations >= max_eval
                    or ops.max(ops.abs(flat_grad)).item() <= tol_grad
                    or ops.max(ops.abs(d * t)).item() <= tol_change or abs(loss - prev_loss) < tol_change):
                break
        state.update(d=d, t=t, old_dirs=dirs, old_stps=steps, ro=rho, H_diag=h_diag, prev_flat_grad=prev_grad,
                     prev_loss=prev_loss)
        return first_loss

    # ---- state dicts: the history is flat vectors, not tensors of a parameter's shape ------
    def _load_state(self, p, state, saved):
        state.clear()
        state.update({k: _copied(v) for k, v in saved.items()})

    def state_dict(self):
        saved = super().state_dict()
        saved["state"] = {k: {name: _copied(v) for name, v in s.items()} for k, s in saved["state"].items()}
        return saved


def _copied(value):
    """``value`` with its tensors (and lists of them) cloned."""
    if isinstance(value, Tensor):
        return value.clone()
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def _remember(y, s, dirs, steps, rho, h_diag, history):
    """The curvature history with the pair (``y``, ``s``) added when ``y.s`` is positive
    enough (the oldest pair dropped past ``history``), and the new initial Hessian scale."""
    ys = dot(y, s)
    if ys <= 1e-10:
        return dirs, steps, rho, h_diag
    keep = len(dirs) == history
    return (dirs[keep:] + [y], steps[keep:] + [s], rho[keep:] + [1.0 / ys], ys / dot(y, y))


def _two_loop(grad, dirs, steps, rho, h_diag):
    """The quasi-Newton direction ``-H grad`` by the two-loop recursion."""
    q, alphas = -grad, [0.0] * len(dirs)
    for i in reversed(range(len(dirs))):
        alphas[i] = dot(steps[i], q) * rho[i]
        q = q - dirs[i] * alphas[i]
    r = q * h_diag
    for i in range(len(dirs)):
        beta = dot(dirs[i], r) * rho[i]
        r = r + steps[i] * (alphas[i] - beta)
    return r
