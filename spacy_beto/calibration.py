"""Score calibration, fitted on held-out data and stored in a component's `cfg`.

Two maps, both monotonic (they never change which entity or category wins):

* **Platt scaling** (`{"method": "platt", "a": A, "b": B}`): p' = sigmoid(A * logit(p) + B).
  Used for entity scores (the probability that a predicted entity is exactly right) and for the
  categories of a multi-label classifier (one map shared by all labels).
* **Temperature** (`{"method": "temperature", "t": T}`): p' = softmax(log(p) / T) over the
  labels of an exclusive classifier.

A calibration is a plain JSON-able dict, so it is saved with the component's `cfg` by
to_disk/to_bytes/pickle and used again after `spacy.load`. numpy only: this is runtime code.
"""

import math
from typing import Any, Dict, Optional, Sequence

import numpy

EPS = 1e-6
Calibration = Dict[str, Any]


def _logit(p: numpy.ndarray) -> numpy.ndarray:
    p = numpy.clip(numpy.asarray(p, dtype="f8"), EPS, 1.0 - EPS)
    return numpy.log(p) - numpy.log1p(-p)


def _sigmoid(x: numpy.ndarray) -> numpy.ndarray:
    return 1.0 / (1.0 + numpy.exp(-x))


def fit_platt(scores: Sequence[float], correct: Sequence[bool], *, iters: int = 100) -> Calibration:
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
    a, b = 1.0, 0.0
    for _ in range(iters):
        p = _sigmoid(a * x + b)
        grad = numpy.array([((p - target) * x).sum(), (p - target).sum()])
        w = p * (1.0 - p) + 1e-12
        hess = numpy.array([[(w * x * x).sum(), (w * x).sum()], [(w * x).sum(), w.sum()]])
        hess += numpy.eye(2) * 1e-6 * x.size  # a little ridge: flat or separable data
        step = numpy.linalg.solve(hess, grad)
        a, b = a - step[0], b - step[1]
        if numpy.abs(step).max() < 1e-9:
            break
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
