"""Fewer cyclic garbage collections while `nlp.pipe` runs.

Annotating allocates many small container objects (docs, tokens, spans, lists) that stay alive
for a batch, so with Python's default generation-0 threshold (700) the cyclic collector runs
~500 times per 2,000 texts and re-traverses every doc in flight: 0.25 of 1.48 s per pass in the
overhead mode of `benchmarks/speed.py` (tiny encoder, 1 thread), i.e. ~17 % of the pipeline
around the encoder. With a threshold of 10,000 it runs 13 times (0.02 s). Reference counting
still frees non-cyclic garbage at once; cycles wait for a later collection.

`raised_gc_threshold(gen0)` raises the generation-0 threshold to at least `gen0` while any
caller is inside it (nested and concurrent pipes share one raise), and restores the previous
thresholds when the last one leaves, unless someone changed them in the meantime.
"""

import contextlib
import gc
import threading
from typing import Iterator, Optional, Tuple

_lock = threading.Lock()
_users = 0
_saved: Optional[Tuple[int, int, int]] = None  # thresholds before the raise
_raised: Optional[Tuple[int, int, int]] = None  # thresholds set by the raise


@contextlib.contextmanager
def raised_gc_threshold(gen0: int) -> Iterator[None]:
    """Generation-0 GC threshold at least `gen0` inside (0: leave Python's thresholds alone;
    a threshold of 0, i.e. automatic collection switched off, is kept)."""
    global _users, _saved, _raised
    if gen0 <= 0:
        yield
        return
    with _lock:
        if _users == 0:
            current = gc.get_threshold()
            if 0 < current[0] < gen0:
                _saved, _raised = current, (gen0, current[1], current[2])
                gc.set_threshold(*_raised)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                if gc.get_threshold() == _raised:  # not changed by the user meanwhile
                    gc.set_threshold(*_saved)
                _saved = _raised = None
