"""Entity scores shared by the entity recognizers (`beto_ner`, `beto_token_ner`): where they are
published on a Doc, how they are read, and their calibration.

* `doc.spans["ents_scored"]`: the scored entities, with `attrs["scores"]` (calibrated, a float32
  array aligned with the spans, as spaCy's `spancat` does) and `attrs["raw_scores"]` (before
  calibration);
* `ent._.score` for any span of `doc.ents` (None if the doc or the entity was not scored);
* `doc.spans["ents_candidates"]`: other spans the model nearly chose, with their scores.

`EntityScoresMixin` gives a component `calibration`, `set_calibration` and `fit_calibration`
(found by `python -m spacy_beto calibrate`, `select`, `report`); the calibration (a Platt map, or
with a training lexicon an `entity_features` map: calibration.py) is stored in
`cfg["calibration"]`, so it round-trips with to_disk/to_bytes/pickle.
"""

import bisect
from typing import Any, Dict, Iterable, Iterator, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example

from ..calibration import (
    Calibration,
    Lexicon,
    apply_entity_calibration,
    check_calibration,
    fit_entity_features,
    fit_platt,
)
from ..errors import BetoConfigError

SCORED_KEY = "ents_scored"
CANDIDATES_KEY = "ents_candidates"


def entity_score(span: Span) -> Optional[float]:
    """The (calibrated) score of an entity from `doc.spans["ents_scored"]`, None if absent."""
    group = span.doc.spans.get(SCORED_KEY)
    scores = None if group is None else group.attrs.get("scores")
    if group is None or scores is None:
        return None
    i = _find(group, span)
    return None if i is None else float(scores[i])


def _find(group: SpanGroup, span: Span) -> Optional[int]:
    """The index of `span` in `group`: a binary search, as the recognizers publish the
    entities of `doc.ents` in document order (O(log n) per `ent._.score`, not O(n)); a scan
    if the group was reordered by hand."""
    key = (span.start, span.end, span.label)
    i = bisect.bisect_left(group, key[:2], key=lambda other: (other.start, other.end))
    if i < len(group) and _same(group[i], key):
        return i
    return next((i for i, other in enumerate(group) if _same(other, key)), None)


def _same(span: Span, key: Tuple[int, int, int]) -> bool:
    return (span.start, span.end, span.label) == key


if not Span.has_extension("score"):
    Span.set_extension("score", getter=entity_score)


def check_candidate_threshold(value: float, *, component: str) -> None:
    if not 0.0 < value <= 1.0:
        raise BetoConfigError(
            f"Component '{component}': candidate_threshold = {value} must be in (0, 1] "
            f"(e.g. 0.1); set it in [components.{component}]."
        )


def publish_entity_scores(
    doc: Doc,
    ents: Sequence[Span],
    raw: Any,
    candidates: Sequence[Span],
    cand_raw: Any,
    calibration: Optional[Calibration],
) -> None:
    """Write `doc.spans["ents_scored"]` (`ents` and their raw scores) and
    `doc.spans["ents_candidates"]`, each with `attrs["raw_scores"]` and the calibrated
    `attrs["scores"]` (float32)."""
    for key, spans, values in ((SCORED_KEY, ents, raw), (CANDIDATES_KEY, candidates, cand_raw)):
        values = numpy.asarray(values, dtype="f4").reshape(-1)
        group = SpanGroup(doc, name=key, spans=list(spans))
        group.attrs["raw_scores"] = values
        group.attrs["scores"] = apply_entity_calibration(calibration, values, spans).astype("f4")
        doc.spans[key] = group


def scored_predictions(examples: Iterable[Example]) -> Iterator[Tuple[Span, float, bool]]:
    """(entity, raw score, correct) of every scored predicted entity, over the examples with
    gold entity annotation (the others are missing, as in scoring)."""
    for eg in examples:
        if not eg.reference.has_annotation("ENT_IOB"):
            continue
        group = eg.predicted.spans.get(SCORED_KEY)
        if group is None:
            continue
        gold = {(e.start_char, e.end_char, e.label_) for e in eg.reference.ents}
        for span, score in zip(group, group.attrs["raw_scores"]):
            yield span, float(score), (span.start_char, span.end_char, span.label_) in gold


class EntityScoresMixin:
    """Calibration of an entity recognizer's scores, kept in `cfg["calibration"]` (None: raw
    scores). The class it is mixed into has `name` and `cfg`."""

    name: str
    cfg: Dict[str, Any]

    @property
    def calibration(self) -> Optional[Calibration]:
        return check_calibration(self.cfg.get("calibration"), component=self.name)

    def set_calibration(self, calibration: Optional[Calibration]) -> None:
        self.cfg["calibration"] = check_calibration(calibration, component=self.name)

    def fit_calibration(
        self, examples: Iterable[Example], *, lexicon: Optional[Lexicon] = None
    ) -> Dict[str, Any]:
        """Fit the calibration of the entity scores on examples whose `predicted` docs this
        component annotated: each predicted entity is correct if a gold entity has the same
        characters and label. Examples without gold entity annotation are skipped. Without
        `lexicon`, Platt scaling; with one (`entity_lexicon` of the training set), the
        `entity_features` map (score, label, and whether the text was annotated in training).
        Sets `cfg["calibration"]` and returns {"calibration", "raw", "correct"} (the fitting
        data). Raises BetoConfigError if there is nothing to fit on."""
        found = list(scored_predictions(examples))
        raw = [score for _, score, _ in found]
        correct = [ok for _, _, ok in found]
        if not raw:
            raise BetoConfigError(
                f"Component '{self.name}': no predicted entity in documents with gold entities "
                f"to calibrate on. Give a .spacy set with entity annotation (and, with "
                f"entity_scores = false, turn entity_scores on)."
            )
        if lexicon is None:
            cal = fit_platt(raw, correct)
        else:
            labels = [span.label_ for span, _, _ in found]
            texts = [span.text for span, _, _ in found]
            cal = fit_entity_features(raw, correct, labels, texts, lexicon)
        self.set_calibration(cal)
        return {"calibration": cal, "raw": raw, "correct": correct}
