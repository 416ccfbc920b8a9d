"""How far scores can be trusted: calibration error, reliability diagrams, AUROC, coverage.

Every function takes parallel sequences of `scores` (a prediction's confidence, 0..1) and
`correct` (whether that prediction was right), e.g. one pair per predicted entity, or per
document (the best category's probability, and whether it is the gold one).
"""

import html
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy

logger = logging.getLogger(__name__)

THRESHOLDS = (0.5, 0.7, 0.9)
N_BINS = 10


def reliability_bins(
    scores: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS
) -> List[Dict[str, float]]:
    """Equal-width bins over [0, 1] (the last one includes 1.0): count, mean score, accuracy."""
    s = numpy.asarray(scores, dtype="f8")
    c = numpy.asarray(correct, dtype="f8")
    idx = numpy.minimum((s * n_bins).astype("i8"), n_bins - 1)
    bins = []
    for b in range(n_bins):
        sel = idx == b
        n = int(sel.sum())
        bins.append(
            {
                "lo": b / n_bins,
                "hi": (b + 1) / n_bins,
                "n": n,
                "confidence": float(s[sel].mean()) if n else 0.0,
                "accuracy": float(c[sel].mean()) if n else 0.0,
            }
        )
    return bins


def expected_calibration_error(
    scores: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS
) -> float:
    """ECE: the count-weighted mean |accuracy - mean score| over equal-width bins."""
    bins = reliability_bins(scores, correct, n_bins)
    total = sum(b["n"] for b in bins)
    if not total:
        return 0.0
    return sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / total


def _ece_rows(idx: numpy.ndarray, s: numpy.ndarray, c: numpy.ndarray, n_bins: int) -> numpy.ndarray:
    """ECE of each row of (bin index, score, correct) matrices, vectorised over rows."""
    rows, n = idx.shape
    flat = (numpy.arange(rows)[:, None] * n_bins + idx).ravel()
    size = rows * n_bins
    conf = numpy.bincount(flat, weights=s.ravel(), minlength=size).reshape(rows, n_bins)
    acc = numpy.bincount(flat, weights=c.ravel(), minlength=size).reshape(rows, n_bins)
    return numpy.abs(acc - conf).sum(axis=1) / n  # sum_b n_b |acc_b - conf_b| / n


def ece_uncertainty(
    scores: Sequence[float],
    correct: Sequence[bool],
    *,
    n_bins: int = N_BINS,
    n_samples: int = 500,
    seed: int = 0,
) -> Dict[str, Any]:
    """How much an ECE measured on these predictions can be trusted:

    * `interval`: the 5th-95th percentiles of the ECE over `n_samples` bootstrap resamples of
      the predictions. ECE is biased upwards on few predictions (bin noise only adds), and
      resampling adds more, so near the noise floor this range sits above the measured value:
      read it as the spread, not as a confidence interval around the value;
    * `noise_mean` / `noise_p95`: the ECE a perfectly calibrated model would show with these
      scores on this many predictions (each prediction correct with probability = its score,
      simulated `n_samples` times): with few predictions per bin, an ECE below that is not
      evidence of miscalibration, and differences within it are noise.

    Seeded: the same input gives the same figures. {} for an empty set."""
    s = numpy.asarray(scores, dtype="f8")
    c = numpy.asarray(correct, dtype="f8")
    if not s.size:
        return {}
    rng = numpy.random.default_rng(seed)
    idx = numpy.minimum((s * n_bins).astype("i8"), n_bins - 1)
    pick = rng.integers(0, s.size, size=(n_samples, s.size))
    boot = _ece_rows(idx[pick], s[pick], c[pick], n_bins)
    tiled = numpy.broadcast_to(s, (n_samples, s.size))
    perfect = (rng.random((n_samples, s.size)) < tiled).astype("f8")
    noise = _ece_rows(numpy.broadcast_to(idx, tiled.shape), tiled, perfect, n_bins)
    return {
        "interval": [float(numpy.percentile(boot, 5)), float(numpy.percentile(boot, 95))],
        "noise_mean": float(noise.mean()),
        "noise_p95": float(numpy.percentile(noise, 95)),
        "n_samples": n_samples,
    }


def auroc(scores: Sequence[float], correct: Sequence[bool]) -> float:
    """Area under the ROC curve of `scores` separating correct from wrong predictions (the
    probability that a random correct prediction scores above a random wrong one, ties 1/2).
    NaN if all predictions are correct or all wrong."""
    s = numpy.asarray(scores, dtype="f8")
    c = numpy.asarray(correct, dtype=bool)
    n_pos, n_neg = int(c.sum()), int((~c).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = numpy.argsort(s, kind="mergesort")
    ranks = numpy.empty(len(s), dtype="f8")
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[c].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def coverage_table(
    scores: Sequence[float], correct: Sequence[bool], thresholds: Sequence[float] = THRESHOLDS
) -> Dict[str, Dict[str, Any]]:
    """Per threshold: the fraction of predictions kept (score >= threshold), how many, and the
    precision of those kept (None if none is kept)."""
    s = numpy.asarray(scores, dtype="f8")
    c = numpy.asarray(correct, dtype="f8")
    out = {}
    for t in thresholds:
        kept = s >= t
        n = int(kept.sum())
        out[f"{t:.1f}"] = {
            "coverage": n / len(s) if len(s) else 0.0,
            "n": n,
            "precision": float(c[kept].mean()) if n else None,
        }
    return out


def confidence_summary(
    scores: Sequence[float], correct: Sequence[bool], raw_scores: Sequence[float]
) -> Dict[str, Any]:
    """Everything the report shows for one head: n, accuracy (precision of the predictions),
    ECE after/before calibration (with `ece_uncertainty` of the calibrated ECE), AUROC
    after/before (they differ only for a non-monotonic map: `entity_features`), coverage at
    0.5/0.7/0.9, reliability bins."""
    return {
        "n": len(scores),
        "accuracy": float(numpy.mean(correct)) if len(correct) else 0.0,
        "ece": expected_calibration_error(scores, correct),
        "ece_uncalibrated": expected_calibration_error(raw_scores, correct),
        "ece_uncertainty": ece_uncertainty(scores, correct, n_samples=200),
        "auroc": auroc(scores, correct),
        "auroc_uncalibrated": auroc(raw_scores, correct),
        "coverage": coverage_table(scores, correct),
        "reliability": reliability_bins(scores, correct),
        "reliability_uncalibrated": reliability_bins(raw_scores, correct),
    }


def reliability_svg(
    bins: Sequence[Dict[str, float]],
    *,
    title: str,
    before: Sequence[Dict[str, float]] = (),
    size: int = 240,
) -> str:
    """A reliability diagram as inline SVG: accuracy per confidence bin (bars), the diagonal of
    perfect calibration, and the uncalibrated accuracies as dots if `before` is given."""
    pad = 30
    inner = size - 2 * pad

    def x(v: float) -> float:
        return pad + v * inner

    def y(v: float) -> float:
        return size - pad - v * inner

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 20}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="{size / 2}" y="14" text-anchor="middle" font-size="12">'
        f"{html.escape(title)}</text>",
        f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="none" stroke="#999"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#999" '
        'stroke-dasharray="4 3"/>',
    ]
    for b in bins:
        if b["n"]:
            top = y(b["accuracy"])
            parts.append(
                f'<rect x="{x(b["lo"]) + 1:.1f}" y="{top:.1f}" '
                f'width="{x(b["hi"]) - x(b["lo"]) - 2:.1f}" height="{y(0) - top:.1f}" '
                f'fill="#4c78a8"><title>{b["lo"]:.1f}-{b["hi"]:.1f}: accuracy '
                f"{b['accuracy']:.2f}, n={b['n']}</title></rect>"
            )
    for b in before:
        if b["n"]:
            cx = (x(b["lo"]) + x(b["hi"])) / 2
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{y(b["accuracy"]):.1f}" r="3" fill="#e45756">'
                f"<title>uncalibrated {b['lo']:.1f}-{b['hi']:.1f}: accuracy "
                f"{b['accuracy']:.2f}, n={b['n']}</title></circle>"
            )
    parts.append(
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle" font-size="10">'
        "confidence</text>"
        f'<text x="10" y="{size / 2}" font-size="10" transform="rotate(-90 10 {size / 2})" '
        'text-anchor="middle">accuracy</text></svg>'
    )
    return "".join(parts)


def calibration_targets(nlp: Any) -> List[Any]:
    """The components that can be calibrated: those with `fit_calibration` (beto_ner with
    entity_scores on, beto_token_ner, beto_textcat), in pipeline order."""
    return [
        pipe
        for _, pipe in nlp.pipeline
        if hasattr(pipe, "fit_calibration") and getattr(pipe, "entity_scores", True)
    ]


def training_lexicon(nlp: Any, path: Any) -> Dict[str, List[str]]:
    """`calibration.entity_lexicon` of the gold entities of a training .spacy file or directory
    (read as the pipeline's corpus reader does). BetoConfigError if it is missing or has no
    entities."""
    from spacy.util import registry

    from ..calibration import entity_lexicon
    from ..errors import BetoConfigError

    if not Path(path).exists():
        raise BetoConfigError(f"{path}: no such file or directory (the training .spacy set)")
    reader = registry.readers.get("spacy-beto.Corpus.v1")(path, gold_preproc=False)
    lexicon = entity_lexicon((e.text, e.label_) for eg in reader(nlp) for e in eg.reference.ents)
    if not lexicon:
        raise BetoConfigError(
            f"{path}: no gold entities to build the training lexicon from; give the .spacy set "
            "the entity recognizer was trained on, or leave --train out (Platt scaling)."
        )
    return lexicon


def calibrate_pipeline(
    nlp: Any, examples: Sequence[Any], *, lexicon: Optional[Dict[str, List[str]]] = None
) -> Dict[str, Dict[str, Any]]:
    """Fit the calibration of every calibratable component on `examples` (held-out gold data;
    their `predicted` docs are replaced): predict with calibration off, fit each component,
    and return {component: calibration}. With `lexicon` (`training_lexicon`), the entity
    recognizers get the `entity_features` map instead of Platt scaling. Raises
    BetoConfigError if the pipeline has no such component, `examples` is empty, or a
    component has no gold annotation to fit on."""
    from ..errors import BetoConfigError

    targets = calibration_targets(nlp)
    if not targets:
        raise BetoConfigError(
            "The pipeline has no component to calibrate: it needs a beto_ner with "
            "entity_scores = true, a beto_token_ner or a beto_textcat (its components: "
            f"{', '.join(nlp.pipe_names)})."
        )
    if not examples:
        raise BetoConfigError("The calibration set has no documents.")
    for pipe in targets:
        pipe.set_calibration(None)
        if getattr(pipe, "thresholds", None):
            # Tuned on the old calibrated scores: stale once the calibration is refitted.
            logger.warning(
                "Component '%s': its per-class thresholds are cleared with its calibration; "
                "retune them (calibrate --target-precision P).",
                pipe.name,
            )
            pipe.set_thresholds(None)
    for eg, doc in zip(examples, nlp.pipe(eg.predicted for eg in examples)):
        eg.predicted = doc
    from ..components.entity_scores import EntityScoresMixin

    fitted = {}
    for pipe in targets:
        if lexicon is not None and isinstance(pipe, EntityScoresMixin):
            fitted[pipe.name] = pipe.fit_calibration(examples, lexicon=lexicon)["calibration"]
        else:
            fitted[pipe.name] = pipe.fit_calibration(examples)["calibration"]
    return fitted


def threshold_targets(nlp: Any) -> List[Any]:
    """The multi-label text classifiers (those `tune_pipeline_thresholds` tunes). BetoConfigError
    if there is none, naming the exclusive ones: their decision is the most probable class, so
    per-class thresholds do not apply."""
    from ..errors import BetoConfigError

    textcats = [pipe for _, pipe in nlp.pipeline if hasattr(pipe, "fit_thresholds")]
    multi = [pipe for pipe in textcats if pipe.multi_label]
    if not multi:
        exclusive = ", ".join(f"'{pipe.name}'" for pipe in textcats)
        what = f"exclusive classes only ({exclusive})" if textcats else "no beto_textcat"
        raise BetoConfigError(
            f"--target-precision tunes per-class thresholds of multi-label text classifiers, "
            f"but the pipeline has {what}. An exclusive classifier decides by its most probable "
            f"class: drop --target-precision, or train the classifier with multi_label = true "
            f"(and model.exclusive_classes = false) if a document can have several categories."
        )
    return multi


def tune_pipeline_thresholds(
    nlp: Any, examples: Sequence[Any], *, target_precision: float
) -> Dict[str, Dict[str, Any]]:
    """Tune per-class decision thresholds for `target_precision` in every multi-label text
    classifier (`fit_thresholds`), on `examples` as `calibrate_pipeline` left them (predicted
    with calibration off; run it first). Returns {component: fit_thresholds' result}.
    BetoConfigError if the pipeline has no multi-label classifier (`threshold_targets`)."""
    return {
        pipe.name: pipe.fit_thresholds(examples, target_precision=target_precision)
        for pipe in threshold_targets(nlp)
    }
