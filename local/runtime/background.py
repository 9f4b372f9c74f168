"""A loop in a daemon thread with a clean stop: what the local platform's pollers share (the queue pump,
the scheduler)."""

from __future__ import annotations

import threading
from typing import Self


class BackgroundLoop:
    """Subclasses implement `_loop`, which runs until `self._stop` is set (waiting on it between passes)."""

    thread_name = "local-background"
    stop_timeout = 10.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Start the loop in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the pass in progress (waiting for it up to `timeout` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.stop_timeout if timeout is None else timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        """True between `start` and `stop`."""
        return self._thread is not None

    def _loop(self) -> None:
        raise NotImplementedError
