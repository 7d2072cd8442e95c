"""Run independent tasks on Dask: local threads, or an existing ``dask.distributed`` cluster.

Two engines, one contract. :func:`run_tasks` calls ``func(item)`` for every item
and hands each outcome to ``on_result`` *in the calling thread* as soon as it is
ready, so the caller can record finished work while the rest is still running.

* **Local (default)**: Dask's threaded scheduler over a thread pool of
  ``workers`` threads (all available cores by default). NodeScope's per-image
  work is NumPy / OpenCV / scikit-image code that releases the GIL for its heavy
  loops (the analysis already runs its tiles on threads for the same reason), so
  threads give parallelism without spawning processes that each re-import the
  scientific stack, without pickling images, and with no set-up or optional
  dependency. One worker runs on Dask's synchronous scheduler, in this thread.
* **Cluster**: ``scheduler="tcp://host:8786"`` connects a
  :class:`distributed.Client` to a running scheduler and submits the same
  function (``retries=1``; a task whose worker dies is retried by Dask, then
  reported as failed). Processes on other machines must see the same file
  paths and import the same ``pipeline`` version.

The library never configures logging and never prints.
"""

from __future__ import annotations

import operator
import os
import queue
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future

__all__ = ["available_cores", "default_threads", "check_workers", "check_scheduler_address", "run_tasks", "DaemonThreadPool"]

#: Environment variable naming a default Dask scheduler address.
SCHEDULER_ENV = "NODESCOPE_SCHEDULER"

_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ws|wss|ucx|inproc)://)?[^\s/:]+(?::\d+)?/?$")


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask when the OS has one).

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Threads for one image's work when none are asked for: the cores available, at most 4.

    Examples
    --------
    >>> 1 <= default_threads() <= 4
    True
    """
    return min(4, available_cores())


def check_workers(workers, *, name: str = "workers") -> int | None:
    """Validate a worker count: ``None`` (all cores) or an integer >= 1.

    Examples
    --------
    >>> check_workers(2), check_workers(None)
    (2, None)
    >>> check_workers(0)
    Traceback (most recent call last):
    ...
    ValueError: workers must be an integer >= 1 (or None for all cores), got 0
    """
    if workers is None:
        return None
    try:
        if isinstance(workers, bool):
            raise TypeError
        value = operator.index(workers)
    except TypeError:
        raise TypeError(f"{name} must be an integer >= 1 (or None for all cores), got {workers!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1 (or None for all cores), got {workers!r}")
    return value


def check_scheduler_address(address, *, name: str = "scheduler") -> str | None:
    """Validate a Dask scheduler address such as ``tcp://10.0.0.5:8786``.

    Examples
    --------
    >>> check_scheduler_address("tcp://127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    >>> check_scheduler_address("http://x:8787/status")
    Traceback (most recent call last):
    ...
    ValueError: scheduler must be a Dask scheduler address like tcp://HOST:8786, got 'http://x:8787/status'
    """
    if address is None:
        return None
    text = str(address).strip()
    if not text:
        return None
    if not _ADDRESS.match(text):
        raise ValueError(f"{name} must be a Dask scheduler address like tcp://HOST:8786, got {address!r}")
    return text


class DaemonThreadPool(Executor):
    """A thread pool whose threads never hold up the interpreter's exit.

    After a second Ctrl-C the batch abandons the images still being analysed
    (they may no longer write anything); with daemon threads the process can
    end at once instead of waiting for them (a standard pool joins its threads
    at exit).

    Examples
    --------
    >>> pool = DaemonThreadPool(2)
    >>> pool.submit(abs, -3).result()
    3
    >>> pool.shutdown()
    """

    def __init__(self, max_workers: int, *, name: str = "nodescope"):
        self._max_workers = int(max_workers)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{k}", daemon=True)
                         for k in range(self._max_workers)]
        for thread in self._threads:
            thread.start()

    def _work(self):
        while (job := self._queue.get()) is not None:
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the future's owner
                future.set_exception(exc)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        self._queue.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            pending = []
            while True:
                try:
                    pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for job in pending:
                if job is not None:
                    job[0].cancel()
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


def _capture(func, item):
    """``("ok", value)`` or ``("error", exception)``: a failing item never aborts the others."""
    try:
        return "ok", func(item)
    except Exception as exc:  # noqa: BLE001 - reported to the caller per item
        return "error", exc


def run_tasks(
    func: Callable,
    items: Sequence,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 1,
    labels: Sequence[str] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[int, object, BaseException | None], None] | None = None,
    on_engine: Callable[[str], None] | None = None,
) -> str:
    """Call ``func(item)`` for every item on Dask, reporting each outcome as it arrives.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled by reference for a cluster).
    items : sequence
        One argument per task (picklable for a cluster).
    workers : int, optional, keyword-only
        Local: threads (default: all available cores). Cluster: the most tasks
        in flight at once (default: all submitted at once).
    scheduler : str, optional, keyword-only
        Address of a running ``dask.distributed`` scheduler; local threads when
        ``None``.
    retries : int, keyword-only
        Cluster only: how often Dask reruns a task that raised or whose worker died.
    labels : sequence of str, optional, keyword-only
        Human-readable task names (shown on the Dask dashboard).
    on_start : callable, optional, keyword-only
        ``on_start(index)`` when an item is handed to a worker (locally: when a
        thread picks it up; on a cluster: when it is submitted).
    on_result : callable, optional, keyword-only
        ``on_result(index, value, exception)`` in the calling thread when an
        item finishes; ``exception`` is the error the task raised (or
        :class:`distributed.scheduler.KilledWorker`), else ``None``. An
        exception raised by ``on_result`` stops the run and propagates.
    on_engine : callable, optional, keyword-only
        ``on_engine(description)`` once, before any task starts, with a one-line
        description of the engine (for logs).

    Returns
    -------
    str
        A one-line description of the engine used (for logs).

    Raises
    ------
    ImportError
        ``scheduler`` given but ``distributed`` is not installed.
    ConnectionError
        The scheduler cannot be reached.

    Examples
    --------
    >>> out = {}
    >>> run_tasks(abs, [-1, -2, 3], workers=2, on_result=lambda i, v, e: out.update({i: v}))
    'dask threads (2 workers)'
    >>> sorted(out.items())
    [(0, 1), (1, 2), (2, 3)]
    """
    workers = check_workers(workers)
    scheduler = check_scheduler_address(scheduler)
    items = list(items)
    labels = [str(i) for i in range(len(items))] if labels is None else [str(v) for v in labels]
    on_start = on_start or (lambda i: None)
    on_result = on_result or (lambda i, v, e: None)
    on_engine = on_engine or (lambda text: None)
    if scheduler is not None:
        return _run_distributed(func, items, scheduler, workers, retries, labels, on_start, on_result, on_engine)
    return _run_local(func, items, workers, on_start, on_result, on_engine)


def _run_local(func, items, workers, on_start, on_result, on_engine) -> str:
    import dask

    n_threads = min(workers or available_cores(), max(1, len(items)))
    engine = "dask synchronous scheduler (1 worker)" if n_threads == 1 else f"dask threads ({n_threads} workers)"
    on_engine(engine)
    if not items:
        return engine
    token = uuid.uuid4().hex[:8]
    # Dask's ordering starts independent tasks in descending key order; counting
    # down makes images start in input order (cosmetic: results do not depend on it).
    keys = {f"nodescope-{len(items) - i:07d}-{token}": i for i in range(len(items))}
    tasks = [
        dask.delayed(_capture, pure=False)(func, item, dask_key_name=key)
        for key, item in zip(keys, items)
    ]

    def pretask(key, dsk, state):
        if key in keys:
            on_start(keys[key])

    def posttask(key, outcome, dsk, state, worker_id):
        if key in keys:
            status, value = outcome
            if status == "ok":
                on_result(keys[key], value, None)
            else:
                on_result(keys[key], None, value)

    callbacks = [(None, None, pretask, posttask, None)]
    if n_threads == 1:
        dask.compute(*tasks, scheduler="sync", callbacks=callbacks)
        return engine
    pool = DaemonThreadPool(n_threads)
    try:
        dask.compute(*tasks, scheduler="threads", pool=pool, callbacks=callbacks)
    except BaseException:
        # Ctrl-C: return at once (queued tasks are cancelled; running ones end on
        # their own), so that the caller can say what it is doing and wait itself
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return engine


def _run_distributed(func, items, address, workers, retries, labels, on_start, on_result, on_engine) -> str:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - distributed is a test dependency
        raise ImportError(
            "running on a Dask cluster needs the 'distributed' package: pip install 'nodescope[distributed]'"
        ) from exc
    try:
        client = Client(address, set_as_default=False, timeout="15s")
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"could not reach the Dask scheduler at {address}: {exc}") from None
    try:
        n = sum(client.nthreads().values())
        engine = f"dask.distributed cluster at {address} ({n} worker threads)"
        if workers:
            engine += f", at most {workers} task(s) in flight"
        on_engine(engine)
        token = uuid.uuid4().hex[:8]
        limit = workers or len(items)
        index_of = {}
        pending = iter(range(len(items)))

        def submit(i):
            key = f"nodescope-{labels[i]}-{i}-{token}"
            future = client.submit(func, items[i], key=key, pure=False, retries=retries)
            index_of[future.key] = i
            on_start(i)
            return future

        first = [submit(i) for _, i in zip(range(limit), pending)]
        queue = as_completed(first, loop=client.loop)
        for future in queue:
            i = index_of[future.key]
            try:
                value = future.result()
            except Exception as exc:  # noqa: BLE001 - the task raised or its worker died
                on_result(i, None, exc)
            else:
                on_result(i, value, None)
            finally:
                future.release()
            nxt = next(pending, None)
            if nxt is not None:
                queue.add(submit(nxt))
        return engine
    finally:
        client.close()
