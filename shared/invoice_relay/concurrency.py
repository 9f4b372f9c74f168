"""Overlap waiting with work inside one invocation: a listing read one page ahead while the last is stored.

Threads run in a copy of the caller's context (the invocation's time budget, log keys and — locally — which
function they belong to). An exception in the reading thread is raised in the consumer, where the page it
failed on would have been; a consumer that stops early stops the reader before its next read.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterable, Iterator

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def read_ahead[T](items: Iterable[T], *, name: str = "read-ahead") -> Iterator[T]:
    """The items of `items`, the next one read in a thread while the consumer works on the current one."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(value: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            while not stop.is_set():
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                if not offer(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            offer(_Failed(exc))
            return
        offer(_DONE)

    context = contextvars.copy_context()
    reader = threading.Thread(target=context.run, args=(produce,), name=name, daemon=True)
    reader.start()
    try:
        while True:
            value = handoff.get()
            if value is _DONE:
                return
            if isinstance(value, _Failed):
                raise value.error
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        reader.join()
