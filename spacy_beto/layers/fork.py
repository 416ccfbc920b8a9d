"""One torch thread in forked child processes (e.g. `nlp.pipe(n_process=N)` on Linux).

torch's intra-op thread pool does not survive fork: a forked child's first parallel op can
hang. A hook registered once with `os.register_at_fork` limits every forked child that has
torch loaded to one thread; processes started with spawn/forkserver start fresh and need none.
"""

import logging
import os
import sys

logger = logging.getLogger(__name__)

_registered = False


def one_torch_thread_in_child() -> None:
    """After fork, in the child: use one torch thread (only if the parent imported torch)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() > 1:
        torch.set_num_threads(1)
        logger.debug("Forked process %d: torch set to 1 thread", os.getpid())


def install_fork_hook() -> None:
    """Register `one_torch_thread_in_child` to run in every forked child (idempotent)."""
    global _registered
    if not _registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=one_torch_thread_in_child)
        _registered = True
