"""Scorers that treat documents without gold annotation for a task as missing."""

from functools import partial
from typing import Any, Callable, Dict, Iterable, Optional

from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from .errors import BetoConfigError


def has_gold_cats(example: Example, labels: Iterable[str]) -> bool:
    """True if the reference document carries at least one of `labels` in `doc.cats`."""
    cats = example.reference.cats
    return any(label in cats for label in labels)


def score_cats_with_missing(
    examples: Iterable[Example],
    *,
    labels: Iterable[str] = (),
    multi_label: bool = False,
    threshold: Optional[float] = None,
    positive_label: Optional[str] = None,
    prefix: str = "cats",
    **_cfg: Any,
) -> Dict[str, Any]:
    """Scorer.score_cats over the examples whose reference has categories; the others are
    skipped, so an unannotated document yields neither false positives nor false negatives.
    Keys start with `prefix` (`cats_score`, `cats_macro_f`, ... by default)."""
    labels = list(labels)
    annotated = [eg for eg in examples if has_gold_cats(eg, labels)]
    return Scorer.score_cats(
        annotated,
        prefix,
        getter=_get_cats,
        labels=labels,
        multi_label=multi_label,
        positive_label=positive_label,
        threshold=0.5 if threshold is None else threshold,
    )


def _get_cats(doc: Doc, attr: str) -> Dict[str, float]:
    """The document's categories, whatever the score keys' prefix `attr`."""
    return doc.cats


@registry.scorers("spacy-beto.textcat_scorer.v1")
def make_textcat_scorer(prefix: str = "cats") -> Callable[..., Dict[str, Any]]:
    """Return the missing-aware textcat scorer used by `beto_textcat`, with score keys
    `{prefix}_score`, `{prefix}_macro_f`, ...: give a second text classifier its own prefix
    (and list its keys in [training.score_weights]) so that its scores do not overwrite the
    first one's `cats_*`."""
    if not prefix.isidentifier():
        raise BetoConfigError(
            f"spacy-beto.textcat_scorer.v1: prefix = {prefix!r} must be a non-empty identifier "
            f'(letters, digits, underscores), e.g. prefix = "offensive".'
        )
    if prefix == "cats":
        return score_cats_with_missing
    return partial(score_cats_with_missing, prefix=prefix)
