"""Score calibration, fitted on held-out data and stored in a component's `cfg`.

Two maps, both monotonic (they never change which entity or category wins):

* **Platt scaling** (`{"method": "platt", "a": A, "b": B}`): p' = sigmoid(A * logit(p) + B).
  Used for entity scores (the probability that a predicted entity is exactly right) and for the
  categories of a multi-label classifier (one map shared by all labels).
* **Temperature** (`{"method": "temperature", "t": T}`): p' = softmax(log(p) / T) over the
  labels of an exclusive classifier.

And one for entity scores that also reads the entity, not only its score:

* **Entity features** (`{"method": "entity_features", "a": A, "b": {label: B_label},
  "b_default": B, "seen_same": C_same, "seen_other": C_other, "lexicon": {text: [labels]}}`):
  p' = sigmoid(A * logit(p) + B_label + C_same * [the entity's text was annotated with this
  label in the training set] + C_other * [... with another label]), a logistic regression fitted
  on held-out data (`fit_entity_features`). The lexicon is the training set's entity texts and
  their labels (`entity_lexicon`). A model is far more often right about an entity it was trained
  on than about a new one, and its softmax does not say so: on CoNLL-2002 dev these features
  lift the AUROC of correct vs wrong entities from 0.80-0.81 to 0.86-0.88
  (benchmarks/entity_confidence.md). Not monotonic in p: it reorders entities, never changes them.

Multi-label classifiers can also get **per-class decision thresholds** tuned for a target
precision (`tune_threshold`): the lowest threshold whose precision on the calibration data
reaches the target, i.e. the one keeping the most documents at that precision.

A calibration is a plain JSON-able dict, so it is saved with the component's `cfg` by
to_disk/to_bytes/pickle and used again after `spacy.load`. numpy only: this is runtime code.
"""

import math
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy
from numpy.typing import ArrayLike

EPS = 1e-6
Calibration = Dict[str, Any]


def _logit(p: numpy.ndarray) -> numpy.ndarray:
    p = numpy.clip(numpy.asarray(p, dtype="f8"), EPS, 1.0 - EPS)
    return numpy.log(p) - numpy.log1p(-p)


def _sigmoid(x: numpy.ndarray) -> numpy.ndarray:
    return numpy.exp(-numpy.logaddexp(0.0, -x))  # 1 / (1 + e^-x) without overflow


def _platt_targets(y: numpy.ndarray) -> numpy.ndarray:
    """Platt's smoothed targets ((N+ + 1) / (N+ + 2), 1 / (N- + 2)): a small or one-sided set
    cannot push a map to 0 or 1."""
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    return numpy.where(y > 0.5, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))


def _fit_logistic(
    x: numpy.ndarray, target: numpy.ndarray, prior: numpy.ndarray, ridge: float, iters: int = 100
) -> numpy.ndarray:
    """The weights w minimising the log loss of sigmoid(x @ w) against `target` plus
    ridge / 2 * |w - prior|^2, by Newton's method with backtracking (x: (n, k))."""

    def loss(w: numpy.ndarray) -> float:
        z = x @ w
        log_loss = numpy.logaddexp(0.0, z) - target * z  # -[t log s(z) + (1 - t) log(1 - s(z))]
        return float(log_loss.sum() + 0.5 * ridge * ((w - prior) ** 2).sum())

    w = prior.astype("f8")
    current = loss(w)
    eye = numpy.eye(x.shape[1])
    for _ in range(iters):
        p = _sigmoid(x @ w)
        grad = x.T @ (p - target) + ridge * (w - prior)
        hess = (x * (p * (1.0 - p))[:, None]).T @ x + ridge * eye
        step = numpy.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6 and loss(w - scale * step) > current:
            scale /= 2.0
        new = w - scale * step
        new_loss = loss(new)
        done = current - new_loss < 1e-10 * max(1.0, abs(current))
        w, current = (new, new_loss) if new_loss <= current else (w, current)
        if done:
            break
    return w


def fit_platt(scores: ArrayLike, correct: ArrayLike, *, iters: int = 100) -> Calibration:
    """Fit p' = sigmoid(a * logit(p) + b) by Newton's method on the log loss, with Platt's
    smoothed targets so that a small or one-sided set cannot push the map to 0 or 1. Raises
    ValueError on an empty set."""
    x = _logit(numpy.asarray(scores, dtype="f8"))
    y = numpy.asarray(correct, dtype="f8")
    if x.size == 0:
        raise ValueError("no scores to calibrate on")
    target = _platt_targets(y)
    ridge = 1e-3 * x.size  # pulls (a, b) gently towards (1, 0): flat or separable data
    design = numpy.stack([x, numpy.ones_like(x)], axis=1)
    w = _fit_logistic(design, target, numpy.array([1.0, 0.0]), ridge, iters)
    a, b = float(w[0]), float(w[1])
    if not a > 1e-3:  # no positive relation: keep the order, predict the base rate
        a = 1e-3
        base = float(target.mean())
        b = math.log(base) - math.log1p(-base) - a * float(x.mean())
    return {"method": "platt", "a": float(a), "b": float(b), "n": int(x.size)}


def _nll_temperature(log_p: numpy.ndarray, gold: numpy.ndarray, t: float) -> float:
    z = log_p / t
    z = z - z.max(axis=1, keepdims=True)
    log_norm = numpy.log(numpy.exp(z).sum(axis=1))
    return float((log_norm - z[numpy.arange(len(gold)), gold]).mean())


def fit_temperature(probs: numpy.ndarray, gold: Sequence[int]) -> Calibration:
    """The temperature T minimising the negative log likelihood of the gold labels under
    softmax(log(p) / T), by golden-section search of log T in [log 0.05, log 20]."""
    probs = numpy.asarray(probs, dtype="f8")
    gold_idx = numpy.asarray(gold, dtype="i8")
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError("no scores to calibrate on")
    log_p = numpy.log(numpy.clip(probs, EPS, None))
    lo, hi = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fc = _nll_temperature(log_p, gold_idx, math.exp(c))
    fd = _nll_temperature(log_p, gold_idx, math.exp(d))
    for _ in range(60):
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - ratio * (hi - lo)
            fc = _nll_temperature(log_p, gold_idx, math.exp(c))
        else:
            lo, c, fc = c, d, fd
            d = lo + ratio * (hi - lo)
            fd = _nll_temperature(log_p, gold_idx, math.exp(d))
    return {"method": "temperature", "t": math.exp((lo + hi) / 2.0), "n": int(len(gold_idx))}


def apply_platt(cal: Calibration, scores: Any) -> numpy.ndarray:
    return _sigmoid(cal["a"] * _logit(scores) + cal["b"])


def apply_temperature(cal: Calibration, probs: Any) -> numpy.ndarray:
    """softmax(log(p) / T) per row; a row of zeros (an empty document) stays zeros."""
    probs = numpy.asarray(probs, dtype="f8")
    z = numpy.log(numpy.clip(probs, EPS, None)) / cal["t"]
    z = numpy.exp(z - z.max(axis=1, keepdims=True))
    out = z / z.sum(axis=1, keepdims=True)
    return numpy.where(probs.sum(axis=1, keepdims=True) > 0, out, probs)


def apply_calibration(cal: Optional[Calibration], scores: Any) -> numpy.ndarray:
    """Calibrated scores (a 1d array for Platt, rows of class probabilities for temperature);
    the scores unchanged (as float64) when `cal` is None."""
    if not cal:
        return numpy.asarray(scores, dtype="f8")
    if cal["method"] == "platt":
        return apply_platt(cal, scores)
    if cal["method"] == "temperature":
        return apply_temperature(cal, scores)
    raise ValueError(f"unknown calibration method {cal['method']!r}")


Lexicon = Dict[str, List[str]]


def entity_lexicon(entities: Iterable[Tuple[str, str]]) -> Lexicon:
    """{text: sorted labels it was annotated with} of (text, label) pairs, e.g. the entities of
    a training set."""
    seen: Dict[str, Set[str]] = {}
    for text, label in entities:
        seen.setdefault(text, set()).add(label)
    return {text: sorted(labels) for text, labels in seen.items()}


def _seen(lexicon: Lexicon, text: str, label: str) -> Tuple[float, float]:
    """(text annotated in training with `label`, ... with another label) as 0/1."""
    known = lexicon.get(text, ())
    return float(label in known), float(any(other != label for other in known))


def _entity_design(
    scores: Any, labels: Sequence[str], texts: Sequence[str], label_set: Sequence[str], lex: Lexicon
) -> numpy.ndarray:
    """Rows [logit(p), one-hot label (label_set), seen with this label, seen with another]."""
    x = _logit(numpy.asarray(scores, dtype="f8").reshape(-1))
    index = {label: i for i, label in enumerate(label_set)}
    design = numpy.zeros((x.size, len(label_set) + 3))
    design[:, 0] = x
    for row, (label, text) in enumerate(zip(labels, texts)):
        design[row, 1 + index[label]] = 1.0
        design[row, -2:] = _seen(lex, text, label)
    return design


def fit_entity_features(
    scores: ArrayLike,
    correct: ArrayLike,
    labels: Sequence[str],
    texts: Sequence[str],
    lexicon: Optional[Lexicon] = None,
) -> Calibration:
    """Fit the `entity_features` map (module docstring) by Newton's method on the log loss
    (Platt's smoothed targets, a light ridge towards Platt's identity). `labels`, `texts`: each
    scored entity's label and text; `lexicon`: `entity_lexicon` of the training set (None or
    empty: the seen-in-training weights stay 0, a Platt map with an offset per label). Raises
    ValueError on an empty set."""
    y = numpy.asarray(correct, dtype="f8").reshape(-1)
    if y.size == 0:
        raise ValueError("no scores to calibrate on")
    lex = dict(lexicon or {})
    label_set = sorted(set(labels))
    design = _entity_design(scores, labels, texts, label_set, lex)
    prior = numpy.zeros(design.shape[1])
    prior[0] = 1.0
    w = _fit_logistic(design, _platt_targets(y), prior, 1e-3 * y.size)
    offsets = {label: float(w[1 + i]) for i, label in enumerate(label_set)}
    counts = design[:, 1 : 1 + len(label_set)].sum(axis=0)
    return {
        "method": "entity_features",
        "a": float(w[0]),
        "b": offsets,
        "b_default": float(numpy.dot(counts, w[1 : 1 + len(label_set)]) / max(counts.sum(), 1.0)),
        "seen_same": float(w[-2]) if lex else 0.0,
        "seen_other": float(w[-1]) if lex else 0.0,
        "lexicon": lex,
        "n": int(y.size),
    }


def apply_entity_features(
    cal: Calibration, scores: Any, labels: Sequence[str], texts: Sequence[str]
) -> numpy.ndarray:
    """The `entity_features` map of entities with these raw scores, labels and texts (a label
    the map was not fitted on gets the mean offset `b_default`). Runs per document at
    inference: one offset per entity, no design matrix."""
    offsets: Dict[str, float] = cal["b"]
    lexicon: Lexicon = cal["lexicon"]
    shift = numpy.zeros(len(labels))
    for i, (label, text) in enumerate(zip(labels, texts)):
        same, other = _seen(lexicon, text, label)
        shift[i] = offsets.get(label, cal["b_default"]) + cal["seen_same"] * same
        shift[i] += cal["seen_other"] * other
    return _sigmoid(cal["a"] * _logit(numpy.asarray(scores, dtype="f8").reshape(-1)) + shift)


def apply_entity_calibration(
    cal: Optional[Calibration], scores: Any, spans: Sequence[Any]
) -> numpy.ndarray:
    """Calibrated scores of entities (`spans`: their Spans, aligned with `scores`), whatever
    the map: `entity_features` reads each span's label and text, the others only the score."""
    if cal and cal["method"] == "entity_features":
        return apply_entity_features(
            cal, scores, [span.label_ for span in spans], [span.text for span in spans]
        )
    return apply_calibration(cal, scores)


def check_calibration(cal: Any, *, component: str) -> Optional[Calibration]:
    """`cal` if it is None or a well-formed calibration dict; otherwise a BetoConfigError."""
    from .errors import BetoConfigError

    if cal is None:
        return None
    ok = isinstance(cal, dict) and (
        (cal.get("method") == "platt" and {"a", "b"} <= set(cal))
        or (cal.get("method") == "temperature" and float(cal.get("t", 0)) > 0)
        or (
            cal.get("method") == "entity_features"
            and {"a", "b", "b_default", "seen_same", "seen_other", "lexicon"} <= set(cal)
            and isinstance(cal["b"], dict)
            and isinstance(cal["lexicon"], dict)
        )
    )
    if not ok:
        raise BetoConfigError(
            f"Component '{component}': calibration {cal!r} is not valid: expected "
            '{"method": "platt", "a": A, "b": B} or {"method": "temperature", "t": T > 0}. '
            "Refit it with `python -m spacy_beto calibrate MODEL DEV --output OUT`."
        )
    return cal


def invert_calibration(cal: Optional[Calibration], scores: Any) -> numpy.ndarray:
    """The raw scores a calibration was applied to (up to the clipping at EPS), for reporting
    before/after from calibrated outputs alone."""
    if not cal:
        return numpy.asarray(scores, dtype="f8")
    if cal["method"] == "platt":
        return _sigmoid((_logit(scores) - cal["b"]) / cal["a"])
    if cal["method"] != "temperature":
        raise ValueError(f"a {cal['method']!r} calibration is not invertible from its scores")
    return apply_temperature({"t": 1.0 / cal["t"]}, scores)


def tune_threshold(
    scores: ArrayLike, gold: ArrayLike, target_precision: float
) -> Optional[Dict[str, float]]:
    """The lowest decision threshold t (one of the scores) such that the predictions with
    score >= t have precision >= `target_precision` against `gold` (booleans): of the
    thresholds reaching the target, the one with the highest recall. Returns {"threshold",
    "precision", "recall", "kept"} (`kept`: predictions at or above t), or None if no threshold
    reaches the target (e.g. no gold positive). Precision is not monotonic in t; every distinct
    score is tried."""
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f"target precision {target_precision} is not in (0, 1]")
    s = numpy.asarray(scores, dtype="f8")
    y = numpy.asarray(gold, dtype=bool)
    n_pos = int(y.sum())
    if not n_pos:
        return None
    order = numpy.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    tp = numpy.cumsum(y)
    kept = numpy.arange(1, len(s) + 1)
    last = numpy.r_[s[1:] != s[:-1], True]  # the last item of each run of equal scores
    ok = last & (tp >= target_precision * kept - 1e-12)
    if not ok.any():
        return None
    i = int(numpy.nonzero(ok)[0][-1])  # the lowest such threshold: the most kept
    return {
        "threshold": float(s[i]),
        "precision": float(tp[i] / kept[i]),
        "recall": float(tp[i] / n_pos),
        "kept": int(kept[i]),
    }


def check_thresholds(
    thresholds: Any, *, component: str, labels: Iterable[str]
) -> Optional[Dict[str, float]]:
    """`thresholds` if it is None or {label: t} with known labels and 0 < t <= 1; otherwise a
    BetoConfigError."""
    from .errors import BetoConfigError

    if thresholds is None:
        return None
    known = set(labels)
    ok = isinstance(thresholds, dict) and all(
        isinstance(k, str) and isinstance(v, (int, float)) and 0.0 < float(v) <= 1.0
        for k, v in thresholds.items()
    )
    unknown = sorted(set(thresholds) - known) if ok and known else []
    if not ok or unknown:
        why = f"unknown labels {unknown}" if unknown else "expected {label: threshold in (0, 1]}"
        raise BetoConfigError(
            f"Component '{component}': thresholds {thresholds!r} are not valid ({why}). "
            "Retune them with `python -m spacy_beto calibrate MODEL DEV --target-precision P "
            "--output OUT`."
        )
    return {k: float(v) for k, v in thresholds.items()}
