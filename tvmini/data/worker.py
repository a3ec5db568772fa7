"""The DataLoader's worker threads, arranged as PyTorch arranges its worker processes:
worker ``k`` of ``n`` reads batches ``k, k + n, k + 2n, ...`` of a map-style dataset (or
its own copy of an iterable dataset's stream), at most ``prefetch_factor`` ahead, and
the loader takes their batches in turn, so the batch order is that of one process.

Each worker thread first records its :class:`WorkerInfo` (``get_worker_info()`` returns
it inside the worker and None elsewhere), then calls ``worker_init_fn(id)``. Threads
share the process, so ``seed`` (``base_seed + id``, the base drawn once per epoch from
the loader's generator) is for the dataset to seed its own generator with; nothing is
reseeded behind its back.
"""
import queue
import threading
from dataclasses import dataclass

_local = threading.local()
_END = object()


@dataclass(frozen=True)
class WorkerInfo:
    """Who is reading: the worker's ``id`` in ``[0, num_workers)``, its ``seed`` and the
    ``dataset`` it reads (the loader's own object: threads share it)."""
    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info():
    """The :class:`WorkerInfo` of the DataLoader worker running this code; None in the
    main thread (or with ``num_workers=0``). An ``IterableDataset`` uses it to read its
    share of a stream: each worker iterates its own copy of the dataset."""
    return getattr(_local, "info", None)


def _put(q, item, stop):
    """Put ``item`` unless the loader stopped listening (an epoch left early)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def run(count, prefetch, dataset, base_seed, worker_init_fn, produce, tasks=None):
    """Yield the results of ``count`` worker threads in turn. ``produce(own_tasks)`` is
    the generator a worker runs: with ``tasks`` (an iterator, dealt out round robin and
    at most ``count * prefetch`` ahead) ``own_tasks`` iterates the worker's share of
    them; without, it is None and each worker yields until its stream ends (an ended
    worker leaves the turn). An exception in a worker is raised here, in order."""
    stop = threading.Event()
    outputs = [queue.Queue(prefetch) for _ in range(count)]
    inputs = [queue.Queue() for _ in range(count)] if tasks is not None else None

    def work(k):
        _local.info = WorkerInfo(k, count, base_seed + k, dataset)
        try:
            if worker_init_fn is not None:
                worker_init_fn(k)
            own = iter(inputs[k].get, _END) if inputs is not None else None
            for result in produce(own):
                if not _put(outputs[k], (True, result), stop):
                    return
        except BaseException as exc:      # noqa: BLE001  (handed to the loader, raised there)
            _put(outputs[k], (False, exc), stop)
            return
        _put(outputs[k], (True, _END), stop)

    threads = [threading.Thread(target=work, args=(k,), daemon=True, name=f"tvmini-data-{k}") for k in range(count)]
    for thread in threads:
        thread.start()
    try:
        if tasks is not None:
            yield from _in_task_order(count, prefetch, iter(tasks), inputs, outputs)
        else:
            yield from _in_turn(count, outputs)
    finally:
        stop.set()
        for q in inputs or ():
            q.put(_END)


def _receive(q):
    ok, result = q.get()
    if not ok:
        raise result
    return result


def _in_task_order(count, prefetch, tasks, inputs, outputs):
    sent = received = 0

    def send():
        nonlocal sent
        task = next(tasks, _END)
        if task is _END:
            return False
        inputs[sent % count].put(task)
        sent += 1
        return True
    while sent < count * prefetch and send():
        pass
    more = sent == count * prefetch
    while received < sent:
        result = _receive(outputs[received % count])
        received += 1
        more = more and send()
        yield result


def _in_turn(count, outputs):
    live, turn = list(range(count)), 0
    while live:
        result = _receive(outputs[live[turn]])
        if result is _END:
            del live[turn]
            turn = turn % len(live) if live else 0
            continue
        turn = (turn + 1) % len(live)
        yield result
