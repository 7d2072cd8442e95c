"""What the worker threads of a local batch are doing, so that Ctrl-C can be honest about it.

A batch on local threads registers a :class:`LocalRun` under its token. Each
image's task (:func:`pipeline.batch.process_image`) marks itself running,
asks before writing its files, and stores its outcome here, so that after an
interrupt the calling thread knows how many images are still running, can
wait for them (first Ctrl-C) or stop them from writing anything (second
Ctrl-C), and counts exactly the results that were kept. Cluster workers have
no entry and use none of this.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

__all__ = ["LocalRun", "register", "unregister", "current", "ctrl_c_watch"]


class LocalRun:
    """Shared state of one local batch (all methods are thread-safe).

    Examples
    --------
    >>> run = LocalRun()
    >>> run.begin(0)
    True
    >>> with run.writing(0) as allowed:
    ...     allowed
    True
    >>> run.end(0, {"status": "analysed"}); run.running(), run.outcomes[0]["status"]
    ([], 'analysed')
    >>> run.stop(); run.begin(1)
    False
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._running: set[int] = set()
        self._writers = 0
        self.closing = False  # first Ctrl-C: start no new image
        self.stopped = False  # second Ctrl-C: write nothing more
        self.outcomes: dict[int, dict] = {}

    def begin(self, index: int) -> bool:
        """Mark an image running; False when the batch is closing (do not start it)."""
        with self._cond:
            if self.closing or self.stopped:
                return False
            self._running.add(index)
            return True

    def end(self, index: int, outcome: dict | None) -> None:
        """Mark an image done, keeping its outcome (None: nothing to keep)."""
        with self._cond:
            if outcome is not None:
                self.outcomes[index] = outcome
            self._running.discard(index)
            self._cond.notify_all()

    @contextmanager
    def writing(self, index: int):
        """Yield whether the image may write its files; a stop waits for writes in progress."""
        with self._cond:
            allowed = not self.stopped
            if allowed:
                self._writers += 1
        try:
            yield allowed
        finally:
            if allowed:
                with self._cond:
                    self._writers -= 1
                    self._cond.notify_all()

    def running(self) -> list[int]:
        """Indices of the images still running, sorted."""
        with self._cond:
            return sorted(self._running)

    def close(self) -> None:
        """First Ctrl-C: images not yet started are not started."""
        with self._cond:
            self.closing = True

    def wait(self, timeout: float = 0.2) -> bool:
        """Wait up to ``timeout`` s for a running image to end; True when none is left."""
        with self._cond:
            if self._running:
                self._cond.wait(timeout)
            return not self._running

    def stop(self, *, timeout: float = 120.0) -> None:
        """Second Ctrl-C: forbid further writes, then wait for writes in progress to finish."""
        with self._cond:
            self.closing = self.stopped = True
            self._cond.wait_for(lambda: self._writers == 0, timeout)


_RUNS: dict[str, LocalRun] = {}


def register(token: str) -> LocalRun:
    run = _RUNS[token] = LocalRun()
    return run


def unregister(token: str) -> None:
    _RUNS.pop(token, None)


def current(token: str) -> LocalRun | None:
    """The run of this token in this process (None on a cluster worker)."""
    return _RUNS.get(token)


class CtrlC:
    """Counts the Ctrl-Cs (SIGINT) that reached this process during a :func:`ctrl_c_watch`."""

    def __init__(self):
        self.count = 0

    def check(self) -> None:
        """Raise the KeyboardInterrupt of a Ctrl-C that came and was lost on its way.

        Python raises KeyboardInterrupt wherever the main thread happens to be;
        inside a ``__del__`` or a garbage-collector callback it is printed as
        "Exception ignored" and dropped, and a batch would run to its end as if
        no Ctrl-C had come. Called between images on the main thread, where an
        interrupt that was delivered has already ended the batch loop.
        """
        if self.count:
            raise KeyboardInterrupt


@contextmanager
def ctrl_c_watch():
    """Count Ctrl-Cs while the block runs, still raising KeyboardInterrupt at once.

    Only on the main thread and only where SIGINT has Python's default handler
    (an application's own handler, or SIGINT ignored, is left alone, and then
    nothing is counted).

    Examples
    --------
    >>> with ctrl_c_watch() as ctrl_c:
    ...     ctrl_c.check()  # no Ctrl-C came: returns
    >>> ctrl_c.count
    0
    """
    watch = CtrlC()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield watch
        return

    def on_sigint(signum, frame):
        watch.count += 1
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield watch
    finally:
        if signal.getsignal(signal.SIGINT) is on_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)
