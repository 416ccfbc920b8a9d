"""Score calibration, fitted on held-out data and stored in a component's `cfg`.

Two maps, both monotonic (they never change which entity or category wins):

* **Platt scaling** (`{"method": "platt", "a": A, "b": B}`): p' = sigmoid(A * logit(p) + B).
  Used for entity scores (the probability that a predicted entity is exactly right) and for the
  categories of a multi-label classifier (one map shared by all labels).
* **Temperature** (`{"method": "temperature", "t": T}`): p' = softmax(log(p) / T) over the
  labels of an exclusive classifier.

Multi-label classifiers can also get **per-class decision thresholds** tuned for a target
precision (`tune_threshold`): the lowest threshold whose precision on the calibration data
reaches the target, i.e. the one keeping the most documents at that precision.

A calibration is a plain JSON-able dict, so it is saved with the component's `cfg` by
to_disk/to_bytes/pickle and used again after `spacy.load`. numpy only: this is runtime code.
"""

import math
from typing import Any, Dict, Iterable, Optional, Sequence

import numpy
from numpy.typing import ArrayLike

EPS = 1e-6
Calibration = Dict[str, Any]


def _logit(p: numpy.ndarray) -> numpy.ndarray:
    p = numpy.clip(numpy.asarray(p, dtype="f8"), EPS, 1.0 - EPS)
    return numpy.log(p) - numpy.log1p(-p)


def _sigmoid(x: numpy.ndarray) -> numpy.ndarray:
    return numpy.exp(-numpy.logaddexp(0.0, -x))  # 1 / (1 + e^-x) without overflow


def fit_platt(scores: ArrayLike, correct: ArrayLike, *, iters: int = 100) -> Calibration:
    """Fit p' = sigmoid(a * logit(p) + b) by Newton's method on the log loss, with Platt's
    smoothed targets ((N+ + 1) / (N+ + 2), 1 / (N- + 2)) so that a small or one-sided set cannot
    push the map to 0 or 1. Raises ValueError on an empty set."""
    x = _logit(numpy.asarray(scores, dtype="f8"))
    y = numpy.asarray(correct, dtype="f8")
    if x.size == 0:
        raise ValueError("no scores to calibrate on")
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    target = numpy.where(y > 0.5, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    ridge = 1e-3 * x.size  # pulls (a, b) gently towards (1, 0): flat or separable data

    def loss(w: numpy.ndarray) -> float:
        z = w[0] * x + w[1]
        log_loss = numpy.logaddexp(0.0, z) - target * z  # -[t log s(z) + (1 - t) log(1 - s(z))]
        return float(log_loss.sum() + 0.5 * ridge * ((w[0] - 1.0) ** 2 + w[1] ** 2))

    w = numpy.array([1.0, 0.0])
    current = loss(w)
    for _ in range(iters):  # Newton's method with backtracking
        p = _sigmoid(w[0] * x + w[1])
        grad = numpy.array([((p - target) * x).sum(), (p - target).sum()])
        grad += ridge * numpy.array([w[0] - 1.0, w[1]])
        h = p * (1.0 - p)
        hess = numpy.array([[(h * x * x).sum(), (h * x).sum()], [(h * x).sum(), h.sum()]])
        step = numpy.linalg.solve(hess + ridge * numpy.eye(2), grad)
        scale = 1.0
        while scale > 1e-6 and loss(w - scale * step) > current:
            scale /= 2.0
        new = w - scale * step
        new_loss = loss(new)
        done = current - new_loss < 1e-10 * max(1.0, abs(current))
        w, current = (new, new_loss) if new_loss <= current else (w, current)
        if done:
            break
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


def check_calibration(cal: Any, *, component: str) -> Optional[Calibration]:
    """`cal` if it is None or a well-formed calibration dict; otherwise a BetoConfigError."""
    from .errors import BetoConfigError

    if cal is None:
        return None
    ok = isinstance(cal, dict) and (
        (cal.get("method") == "platt" and {"a", "b"} <= set(cal))
        or (cal.get("method") == "temperature" and float(cal.get("t", 0)) > 0)
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
