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
    thresholds: Optional[Dict[str, float]] = None,
    positive_label: Optional[str] = None,
    prefix: str = "cats",
    **_cfg: Any,
) -> Dict[str, Any]:
    """Scorer.score_cats over the examples whose reference has categories; the others are
    skipped, so an unannotated document yields neither false positives nor false negatives.
    Keys start with `prefix` (`cats_score`, `cats_macro_f`, ... by default).

    Multi-label with per-class `thresholds` (a beto_textcat's tuned ones, passed from its cfg):
    a label is predicted positive when its score is at or above its own threshold (the others
    use `threshold`). spaCy's scorer takes one threshold, so each label's predicted scores
    are mapped by a monotonic piecewise-linear function sending its threshold to `threshold`:
    P/R/F follow the per-class thresholds and the AUC (rank-based, per label) is unchanged."""
    labels = list(labels)
    threshold = 0.5 if threshold is None else threshold
    annotated = [eg for eg in examples if has_gold_cats(eg, labels)]
    getter = _get_cats
    if multi_label and thresholds and 0.0 < threshold < 1.0:
        getter = partial(_get_cats_rethresholded, thresholds=thresholds, threshold=threshold)
    return Scorer.score_cats(
        annotated,
        prefix,
        getter=getter,
        labels=labels,
        multi_label=multi_label,
        positive_label=positive_label,
        threshold=threshold,
    )


def _get_cats(doc: Doc, attr: str) -> Dict[str, float]:
    """The document's categories, whatever the score keys' prefix `attr`."""
    return doc.cats


def _get_cats_rethresholded(
    doc: Doc, attr: str, *, thresholds: Dict[str, float], threshold: float
) -> Dict[str, float]:
    """doc.cats with each score p of a label with threshold t mapped to p' so that p >= t
    exactly when p' >= `threshold` (monotonic: p < t -> [0, threshold), p >= t -> [threshold,
    1])."""
    out = dict(doc.cats)
    for label, t in thresholds.items():
        if label not in out:
            continue
        p = float(out[label])
        if p >= 1.0 or p <= 0.0:  # gold values (the getter reads reference docs too) stay
            continue
        if p >= t:
            out[label] = 1.0 if t >= 1.0 else threshold + (1.0 - threshold) * (p - t) / (1.0 - t)
        else:
            out[label] = min(threshold * p / t, threshold * (1.0 - 1e-9))
    return out


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
