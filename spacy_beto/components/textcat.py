"""The `beto_textcat` component: text classification in which unlabelled documents are missing.

spaCy's exclusive `textcat` trains a document without gold categories towards all-zero scores
and counts its predictions as false positives. Here such a document contributes no gradient and
is left out of scoring, so one corpus may mix documents with and without categories.

Decisions of a multi-label classifier: `doc.cats` keeps the (calibrated) probabilities, as in
spaCy; `doc._.cats_over_threshold` lists the labels whose probability is at or above their
threshold: the per-class threshold tuned by `calibrate --target-precision` where there is one,
else the component's `threshold` (spaCy's textcat_multilabel setting, 0.5 by default). The
same thresholds decide positives in the component's scores (P/R/F; AUC is unchanged).
"""

import logging
import warnings
from collections import Counter
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, cast

import numpy
from spacy.language import Language
from spacy.pipeline import TextCategorizer
from spacy.tokens import Doc
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model
from thinc.types import Floats2d

from .._compat import textcat_exclusive_error, textcat_value_error
from ..calibration import (
    Calibration,
    apply_calibration,
    check_calibration,
    check_thresholds,
    fit_platt,
    fit_temperature,
    tune_threshold,
)
from ..errors import BetoConfigError
from ..heads import check_score_keys
from ..scoring import has_gold_cats
from .labels import check_labels_in_data
from .listener import LISTENER_CONFIG_STR

DEFAULT_TEXTCAT_CONFIG_STR = (
    """
[model]
@architectures = "spacy.TextCatReduce.v1"
# Must be false when the component's multi_label = true.
exclusive_classes = true
use_reduce_first = false
use_reduce_last = false
use_reduce_max = false
use_reduce_mean = true
nO = null
"""
    + LISTENER_CONFIG_STR
)
DEFAULT_TEXTCAT_MODEL = Config().from_str(DEFAULT_TEXTCAT_CONFIG_STR)["model"]

logger = logging.getLogger(__name__)

OVER_THRESHOLD_ATTR = "cats_over_threshold"
if not Doc.has_extension(OVER_THRESHOLD_ATTR):
    # None until a multi-label beto_textcat has run; several such classifiers share the list.
    Doc.set_extension(OVER_THRESHOLD_ATTR, default=None)


CLASS_WEIGHTINGS = ("none", "balanced", "sqrt")


def inverse_frequency_weights(counts: Dict[str, int], *, mode: str) -> Dict[str, float]:
    """Per-class weights ~ 1/freq ("balanced") or 1/sqrt(freq) ("sqrt"), averaging 1 per doc."""
    if mode == "none" or not counts:
        return {}
    power = 1.0 if mode == "balanced" else 0.5
    raw = {label: 1.0 / (n**power) for label, n in counts.items() if n > 0}
    total = sum(counts.values())
    mean = sum(raw[label] * n for label, n in counts.items() if n > 0) / total
    return {label: w / mean for label, w in raw.items()}


class BetoTextCategorizer(TextCategorizer):
    """Exclusive (default) or multi-label text classifier with missing-value semantics.

    Exclusive: a document with any gold category is fully annotated (absent labels are 0); a
    document with none is missing. Multi-label: each absent label is missing.

    Several classifiers may share documents (e.g. emotion and offensive) when each one gets its
    labels from [initialize.components.NAME] labels: only its own categories are then validated
    and trained on, and a document with none of them is missing.

    `class_weighting` ("none", "balanced" or "sqrt") reweights each annotated document's
    gradient by the inverse frequency of its gold class(es), computed at initialization from
    the training data; weights are normalised to average 1 over the training documents.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], Floats2d],
        name: str = "textcat",
        *,
        threshold: float,
        multi_label: bool,
        class_weighting: str = "none",
        scorer: Optional[Callable],
    ) -> None:
        if class_weighting not in CLASS_WEIGHTINGS:
            raise BetoConfigError(
                f"Component '{name}': class_weighting = {class_weighting!r} is not one of "
                f"{', '.join(CLASS_WEIGHTINGS)}."
            )
        super().__init__(vocab, model, name, threshold=threshold, scorer=scorer)
        self.cfg["multi_label"] = multi_label
        self.cfg["class_weighting"] = class_weighting
        self.cfg["class_weights"] = {}
        self.cfg["calibration"] = None
        self.cfg["thresholds"] = None

    @property
    def multi_label(self) -> bool:
        return bool(self.cfg.get("multi_label", False))

    @property
    def support_missing_values(self) -> bool:
        return True

    @property
    def calibration(self) -> Optional[Calibration]:
        return check_calibration(self.cfg.get("calibration"), component=self.name)

    def set_calibration(self, calibration: Optional[Calibration]) -> None:
        self.cfg["calibration"] = check_calibration(calibration, component=self.name)

    @property
    def thresholds(self) -> Optional[Dict[str, float]]:
        """Per-class decision thresholds of a multi-label classifier (tuned by
        `fit_thresholds`), or None; classes without one use `cfg["threshold"]`."""
        return check_thresholds(self.cfg.get("thresholds"), component=self.name, labels=self.labels)

    def set_thresholds(self, thresholds: Optional[Dict[str, float]]) -> None:
        if thresholds is not None and not self.multi_label:
            raise self._exclusive_thresholds_error()
        self.cfg["thresholds"] = check_thresholds(
            thresholds, component=self.name, labels=self.labels
        )

    def decision_thresholds(self) -> Dict[str, float]:
        """The threshold of every label: its tuned one, else the component's `threshold`."""
        default = float(self.cfg.get("threshold", 0.5))
        tuned = self.thresholds or {}
        return {label: tuned.get(label, default) for label in self.labels}

    def _exclusive_thresholds_error(self) -> BetoConfigError:
        return BetoConfigError(
            f"Component '{self.name}' has exclusive classes: its decision is the most probable "
            f"class, so per-class thresholds do not apply. Drop --target-precision for it, or "
            f"train it with multi_label = true (and model.exclusive_classes = false) if a "
            f"document can have several of its categories."
        )

    def set_annotations(self, docs: Iterable[Doc], scores: Floats2d) -> None:
        """Write the (calibrated, if `calibrate` has run) scores to `doc.cats`; for a
        multi-label classifier, also the labels at or above their thresholds to
        `doc._.cats_over_threshold` (other classifiers' labels there are kept)."""
        # On the host once: spaCy reads every score of every doc, and each read of a GPU
        # array is a device-to-host copy (0.19 of 2.27 profiled seconds on an H200).
        scores = cast(Floats2d, self.model.ops.to_numpy(scores))
        cal = self.calibration
        if cal is not None:
            scores = cast(Floats2d, apply_calibration(cal, scores).astype("f4"))
        docs = list(docs)
        super().set_annotations(docs, scores)
        if not self.multi_label:
            return
        thresholds = self.decision_thresholds()
        for doc in docs:
            previous = getattr(doc._, OVER_THRESHOLD_ATTR) or []
            kept = [label for label in previous if label not in thresholds]
            kept += [label for label, t in thresholds.items() if doc.cats.get(label, 0.0) >= t]
            setattr(doc._, OVER_THRESHOLD_ATTR, kept)

    def fit_thresholds(
        self, examples: Iterable[Example], *, target_precision: float
    ) -> Dict[str, Any]:
        """Tune a decision threshold per class of a multi-label classifier: the lowest one whose
        precision on `examples` reaches `target_precision` (`calibration.tune_threshold`).
        `examples` as for `fit_calibration` (predicted docs holding the raw scores); the
        current calibration is applied first, as at prediction time. A class that no
        threshold brings to the target keeps the component's `threshold` (0.5 by default), with
        a warning naming it. Sets `cfg["thresholds"]`; returns {"thresholds": {label: t},
        "tuned": {label: {threshold, precision, recall, kept}}, "unreached": [labels]}.
        BetoConfigError for an exclusive classifier or without gold categories."""
        if not self.multi_label:
            raise self._exclusive_thresholds_error()
        if not 0.0 < target_precision <= 1.0:
            raise BetoConfigError(
                f"--target-precision {target_precision} must be in (0, 1], e.g. 0.9."
            )
        labels = list(self.labels)
        probs, gold = self._cats_arrays(examples, labels)
        probs = apply_calibration(self.calibration, probs).reshape(probs.shape)
        tuned: Dict[str, Dict[str, float]] = {}
        unreached: List[str] = []
        for j, label in enumerate(labels):
            mask = gold[:, j] >= 0.0
            fit = tune_threshold(probs[mask, j], gold[mask, j] > 0.5, target_precision)
            if fit is None:
                unreached.append(label)
            else:
                tuned[label] = fit
        if unreached:
            default = float(self.cfg.get("threshold", 0.5))
            message = (
                f"Component '{self.name}': no threshold reaches precision {target_precision} for "
                f"{', '.join(unreached)} on the calibration data; they keep threshold {default}."
            )
            logger.warning(message)
            warnings.warn(message, UserWarning, stacklevel=2)
        thresholds = {label: fit["threshold"] for label, fit in tuned.items()}
        self.set_thresholds(thresholds)
        return {"thresholds": thresholds, "tuned": tuned, "unreached": unreached}

    def _cats_arrays(
        self, examples: Iterable[Example], labels: List[str]
    ) -> Tuple[numpy.ndarray, numpy.ndarray]:
        """(predicted scores, gold values with -1 for missing) of the examples with gold
        categories of this component; BetoConfigError if there is none."""
        annotated = [eg for eg in examples if has_gold_cats(eg, labels)]
        if not annotated or not labels:
            raise BetoConfigError(
                f"Component '{self.name}': no document with gold categories "
                f"({', '.join(labels) or 'no labels'}) to calibrate on. Give a .spacy set with "
                f"this classifier's categories."
            )
        probs = numpy.asarray(
            [[eg.predicted.cats.get(label, 0.0) for label in labels] for eg in annotated],
            dtype="f8",
        )
        gold = numpy.asarray(
            [[eg.reference.cats.get(label, -1.0) for label in labels] for eg in annotated],
            dtype="f8",
        )
        return probs, gold

    def fit_calibration(self, examples: Iterable[Example]) -> Dict[str, object]:
        """Fit the calibration on examples whose `predicted` docs hold this component's raw
        scores (run with `set_calibration(None)`), over the examples with gold categories of
        this component. Sets `cfg["calibration"]`; returns {"calibration", "probs", "gold"}.
        Raises BetoConfigError if no example has gold categories."""
        probs, gold = self._cats_arrays(examples, list(self.labels))
        if self.multi_label:
            mask = gold >= 0.0
            cal = fit_platt(probs[mask], gold[mask] > 0.5)
        else:
            rows = gold.max(axis=1) == 1.0  # a document whose gold class is one of ours
            cal = fit_temperature(probs[rows], gold[rows].argmax(axis=1))
        self.set_calibration(cal)
        return {"calibration": cal, "probs": probs, "gold": gold}

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Iterable[str]] = None,
        positive_label: Optional[str] = None,
    ) -> None:
        """Initialize as spaCy does (labels from `labels` or the data; labels given in the config
        must occur in the data), then compute class weights if configured.

        Given labels are added first, so only they are validated: documents may also carry
        another classifier's categories (e.g. emotion and offensive in one corpus)."""
        if labels is not None:
            labels = list(labels)
            check_labels_in_data(
                labels,
                get_examples,
                component=self.name,
                seen_in=lambda eg: [cat for cat, value in eg.reference.cats.items() if value],
                what="a positive category",
            )
            for label in labels:
                self.add_label(label)
        super().initialize(get_examples, nlp=nlp, labels=labels, positive_label=positive_label)
        counts: Counter = Counter()
        for eg in get_examples():
            counts.update(
                label for label in self.labels if eg.reference.cats.get(label, 0.0) == 1.0
            )
        self.cfg["class_weights"] = inverse_frequency_weights(
            counts, mode=self.cfg.get("class_weighting", "none")
        )
        if nlp is not None:
            check_score_keys(nlp)  # two classifiers on one scorer prefix: clear error

    def predict(self, docs: Iterable[Doc]) -> Floats2d:
        """Scores per document; a document without non-whitespace tokens scores 0.0 for every
        label, whatever else is in the batch (spaCy does so only for all-empty batches)."""
        docs = list(docs)
        has_text = [i for i, doc in enumerate(docs) if any(not t.is_space for t in doc)]
        if len(has_text) == len(docs):
            return super().predict(docs)
        scores = self.model.ops.alloc2f(len(docs), len(self.labels))
        if has_text:
            scores[self.model.ops.asarray1i(has_text)] = super().predict(
                [docs[i] for i in has_text]
            )
        return scores

    def _examples_to_truth(
        self, examples: Iterable[Example]
    ) -> Tuple[numpy.ndarray, numpy.ndarray]:
        """Gold scores and a mask of annotated entries (spaCy's hook, see _compat.py)."""
        examples = list(examples)
        labels = self.labels
        truths = numpy.zeros((len(examples), len(labels)), dtype="f")
        not_missing = numpy.zeros((len(examples), len(labels)), dtype="f")
        for i, eg in enumerate(examples):
            cats = eg.reference.cats
            present = [j for j, label in enumerate(labels) if label in cats]
            if not present:
                continue
            if self.multi_label:
                for j in present:
                    truths[i, j] = cats[labels[j]]
                    not_missing[i, j] = 1.0
            else:
                for j, label in enumerate(labels):
                    truths[i, j] = cats.get(label, 0.0)
                not_missing[i, :] = 1.0
        # On the model's device (as upstream's hook), typed as upstream declares it.
        return cast(numpy.ndarray, self.model.ops.asarray(cast(Floats2d, truths))), not_missing

    def _example_weights(self, examples: List[Example]) -> numpy.ndarray:
        """One weight per example: mean weight of its gold classes (1.0 without weighting)."""
        weights = self.cfg.get("class_weights") or {}
        out = numpy.ones((len(examples), 1), dtype="f")
        if not weights:
            return out
        for i, eg in enumerate(examples):
            gold = [
                weights[lab] for lab, v in eg.reference.cats.items() if v == 1.0 and lab in weights
            ]
            if gold:
                out[i, 0] = sum(gold) / len(gold)
        return out

    # spaCy annotates TextCategorizer.get_loss as returning (float, float); it returns the
    # gradient array, as this override does.
    def get_loss(  # type: ignore[override]
        self, examples: Iterable[Example], scores: Floats2d
    ) -> Tuple[float, Floats2d]:
        """Squared error over the annotated entries only; missing entries get zero gradient."""
        validate_examples(examples, "BetoTextCategorizer.get_loss")
        examples = list(examples)
        self._validate_categories(examples)
        truths, not_missing = self._examples_to_truth(examples)
        not_missing = not_missing * self._example_weights(examples)
        mask = self.model.ops.asarray(not_missing)
        d_scores = (scores - truths) * mask
        n_annotated = max(float(not_missing.sum()), 1.0)
        return float((d_scores**2).sum() / n_annotated), d_scores

    def _validate_categories(self, examples: Iterable[Example]) -> None:
        """Gold values must be 0 or 1, with at most one 1 if exclusive. Only the component's own
        labels are checked once it has any; other categories belong to other classifiers.
        (spaCy's hook, called by its initialize/update/rehearse; see _compat.py.)"""
        own = set(self.labels)
        for eg in examples:
            cats = eg.reference.cats
            if own:
                cats = {label: value for label, value in cats.items() if label in own}
            values = list(cats.values())
            for value in values:
                if value not in (0.0, 1.0):
                    raise textcat_value_error(value)
            if not self.multi_label and values.count(1.0) > 1:
                if own:
                    raise textcat_exclusive_error(cats)
                positive = sorted(label for label, value in cats.items() if value == 1.0)
                raise BetoConfigError(
                    f"Component '{self.name}' has exclusive classes, but a training document "
                    f"has several positive categories {positive}: the corpus probably carries "
                    f"several classifications (e.g. emotion and offensive). Set "
                    f"[initialize.components.{self.name}.labels] to this component's labels "
                    f"(labels = [...] under [initialize.components.{self.name}]), or set "
                    f"multi_label = true if the categories are not exclusive."
                )


@Language.factory(
    "beto_textcat",
    assigns=["doc.cats"],
    default_config={
        "model": DEFAULT_TEXTCAT_MODEL,
        "threshold": 0.5,
        "multi_label": False,
        "class_weighting": "none",
        "scorer": {"@scorers": "spacy-beto.textcat_scorer.v1"},
    },
    default_score_weights={
        "cats_score": 1.0,
        "cats_score_desc": None,
        "cats_micro_p": None,
        "cats_micro_r": None,
        "cats_micro_f": None,
        "cats_macro_p": None,
        "cats_macro_r": None,
        "cats_macro_f": None,
        "cats_macro_auc": None,
        "cats_f_per_type": None,
    },
)
def make_beto_textcat(
    nlp: Language,
    name: str,
    *,
    model: Model[List[Doc], Floats2d],
    threshold: float,
    multi_label: bool,
    class_weighting: str,
    scorer: Optional[Callable],
) -> BetoTextCategorizer:
    """Create a text classifier listening to the preceding BETO transformer. Exclusive classes by
    default; set multi_label = true (with model.exclusive_classes = false) for multi-label.
    class_weighting = "balanced" or "sqrt" counters class imbalance (see BetoTextCategorizer)."""
    model_multi = model.attrs.get("multi_label")
    if model_multi is not None and bool(model_multi) != multi_label:
        fix = "false" if multi_label else "true"
        raise BetoConfigError(
            f"Component '{name}' has multi_label = {str(multi_label).lower()} but its model has "
            f"exclusive_classes = {str(not model_multi).lower()}. Set "
            f"[components.{name}.model] exclusive_classes = {fix}."
        )
    return BetoTextCategorizer(
        nlp.vocab,
        model,
        name,
        threshold=threshold,
        multi_label=multi_label,
        class_weighting=class_weighting,
        scorer=scorer,
    )
