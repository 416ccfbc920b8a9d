"""Run a batch producer one step ahead of its consumer, in one background thread.

`BetoTransformer.pipe` uses it on a GPU: while the heads downstream (NER transition system,
textcat, on the CPU) process batch k in the caller's thread, the thread tokenizes, aligns and
encodes batch k + 1. The queue is bounded (`depth` batches), batches come out in order, an
exception in the producer is re-raised in the caller, and closing the generator early (e.g.
`break` out of `nlp.pipe`) stops and joins the thread: none is left behind.

The producer runs in a copy of the caller's `contextvars` context, so thinc's current ops
(CupyOps after `spacy.require_gpu()`) and similar context settings are the caller's.
"""

import contextvars
import queue
import threading
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")

_DONE = object()
# Seconds between checks of the stop flag while the producer waits for room in the queue.
_POLL_S = 0.05


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(produce: Callable[[], Iterator[T]], *, depth: int = 1) -> Iterator[T]:
    """Yield the items of `produce()`, computed in a background thread up to `depth` items
    ahead of the caller."""
    if depth < 1:
        raise ValueError(f"prefetch depth must be at least 1, got {depth}")
    items: "queue.Queue[object]" = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
        except BaseException as err:  # re-raised in the caller's thread
            put(_Failure(err))
            return
        put(_DONE)

    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(work,), name="beto-transformer-prefetch", daemon=True
    )
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            try:  # unblock a producer waiting for room; it sees `stop` next
                items.get(timeout=_POLL_S)
            except queue.Empty:
                pass
        thread.join()
