"""Shared CLI helpers: turn spacy-beto errors into one clear message and exit code 1."""

from contextlib import contextmanager
from typing import Iterator

from wasabi import msg

from ..errors import BetoConfigError, CorpusError


@contextmanager
def clear_errors() -> Iterator[None]:
    """Print BetoConfigError/CorpusError as a one-line failure instead of a traceback."""
    try:
        yield
    except (BetoConfigError, CorpusError) as err:
        msg.fail(str(err), exits=1)
