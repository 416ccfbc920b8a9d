"""Give freed heap memory back to the OS (glibc's malloc_trim; a no-op elsewhere).

Tensors of ever-changing shapes leave glibc's heap fragmented: freed memory stays in the
process and RSS creeps up over long runs although nothing is leaked.
"""

import ctypes


def trim_heap() -> None:
    """Call glibc's malloc_trim(0) if the C library has it."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):
        return
    trim(0)
