"""Shared CLI helpers: one clear message and exit code 1 on errors, label options, skip reports."""

from contextlib import contextmanager
from typing import Iterator, List, Optional

from wasabi import msg

from ..corpus.lines import LinePolicy
from ..errors import BetoConfigError, CorpusError


@contextmanager
def clear_errors() -> Iterator[None]:
    """Print BetoConfigError/CorpusError as a one-line failure instead of a traceback."""
    try:
        yield
    except (BetoConfigError, CorpusError) as err:
        msg.fail(str(err), exits=1)


def split_labels(value: Optional[str], *, option: str = "--labels") -> Optional[List[str]]:
    """A comma-separated label option as a list ("PER, ORG" -> ["PER", "ORG"]); None stays None.

    Raises BetoConfigError naming `option` if it holds no label or a label twice.
    """
    if value is None:
        return None
    labels = [label.strip() for label in value.split(",") if label.strip()]
    if not labels:
        raise BetoConfigError(f"{option}: no label in {value!r}; give them comma-separated.")
    for i, label in enumerate(labels):
        if label in labels[:i]:
            raise BetoConfigError(f"{option}: label {label!r} is given twice in {value!r}.")
    return labels


def report_skipped(policy: LinePolicy) -> None:
    """Warn how many invalid lines/records were skipped, by kind, and list them (capped)."""
    if policy.n_skipped:
        msg.warn(policy.summary() + ":")
        for line in policy.listing():
            msg.text(f"  {line}")
