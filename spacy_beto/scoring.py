"""Scorers that treat documents without gold annotation for a task as missing."""

from typing import Any, Callable, Dict, Iterable, Optional

from spacy.scorer import Scorer
from spacy.training import Example
from spacy.util import registry


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
    **_cfg: Any,
) -> Dict[str, Any]:
    """Scorer.score_cats over the examples whose reference has categories; the others are
    skipped, so an unannotated document yields neither false positives nor false negatives."""
    labels = list(labels)
    annotated = [eg for eg in examples if has_gold_cats(eg, labels)]
    return Scorer.score_cats(
        annotated,
        "cats",
        labels=labels,
        multi_label=multi_label,
        positive_label=positive_label,
        threshold=0.5 if threshold is None else threshold,
    )


@registry.scorers("spacy-beto.textcat_scorer.v1")
def make_textcat_scorer() -> Callable[..., Dict[str, Any]]:
    """Return the missing-aware textcat scorer used by `beto_textcat`."""
    return score_cats_with_missing
