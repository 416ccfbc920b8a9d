"""`calibrate`: fit each head's score calibration on a held-out .spacy set; save the pipeline."""

import warnings
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from . import app
from ._util import clear_errors


@app.command("calibrate")
def calibrate_cli(
    model: str = typer.Argument(..., help="Pipeline package name or directory"),
    data_path: Path = typer.Argument(..., help="Held-out .spacy file or directory of them"),
    output_dir: Path = typer.Option(..., "--output", "-o", help="Directory for the pipeline"),
    train_path: Optional[Path] = typer.Option(
        None,
        "--train",
        help="The .spacy set the entity recognizer was trained on: its entity texts and labels "
        "become calibration features (score, label, seen in training), which separate right "
        "from wrong entities far better than the score alone; stored with the pipeline",
    ),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
    target_precision: Optional[float] = typer.Option(
        None,
        help="Also tune a decision threshold per class of each multi-label text classifier: "
        "the lowest whose precision on DEV reaches this (e.g. 0.9)",
    ),
) -> None:
    """Fit a calibration per head on DEV (held out from training, and from the data you report
    on): Platt scaling of the entity scores, a temperature for exclusive categories, Platt
    scaling for multi-label categories. The pipeline is saved to OUTPUT with the calibration in
    each component's cfg, and entity scores turned on in its config; `spacy.load(OUTPUT)` uses
    them. ECE before/after is printed for DEV
    (in-sample: use `report` on another set for an honest figure).

    With --train TRAIN, entity scores get a logistic map of the raw score, the entity's label,
    and whether its text was annotated in TRAIN with that label or another one (the lexicon of
    TRAIN's entity texts is saved in the component's cfg). Not monotonic in the raw score: it
    reorders entities by how likely they are right (AUROC on CoNLL-2002 dev 0.80-0.81 -> 0.86-0.88,
    benchmarks/entity_confidence.md).

    With --target-precision P, each multi-label classifier also gets a threshold per class:
    the lowest whose precision on DEV is at least P (a class no threshold brings to P keeps the
    component's `threshold`, 0.5 by default, with a warning). They decide
    `doc._.cats_over_threshold` and the component's P/R/F; `doc.cats` stay probabilities."""
    import spacy
    from spacy.util import registry

    from ..annotate import load_pipeline
    from ..errors import BetoConfigError
    from ..evaluation.confidence import (
        calibrate_pipeline,
        threshold_targets,
        training_lexicon,
        tune_pipeline_thresholds,
    )
    from ..evaluation.report import evaluate_pipeline
    from ..heads import pipeline_heads, unique_scored

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    with clear_errors():
        if target_precision is not None and not 0.0 < target_precision <= 1.0:
            raise BetoConfigError(
                f"--target-precision {target_precision} must be in (0, 1], e.g. 0.9."
            )
        for path in (data_path, train_path):
            if path is not None and not path.exists():
                raise BetoConfigError(f"{path}: no such file or directory")
        nlp = load_pipeline(model, entity_scores=True)
        read_corpus = registry.readers.get("spacy-beto.Corpus.v1")
        examples = list(read_corpus(data_path, gold_preproc=False)(nlp))
        if not examples:
            raise BetoConfigError(f"{data_path}: no documents to calibrate on")
        msg.info(f"Calibrating {model} on {len(examples)} documents from {data_path}")
        if target_precision is not None:  # no multi-label classifier: fail before fitting
            threshold_targets(nlp)
        lexicon = None
        if train_path is not None:
            lexicon = training_lexicon(nlp, train_path)
            msg.info(f"Training lexicon: {len(lexicon)} entity texts from {train_path}")
        fitted = calibrate_pipeline(nlp, examples, lexicon=lexicon)
        tuned = {}
        if target_precision is not None:
            with warnings.catch_warnings():  # reported below
                warnings.simplefilter("ignore", UserWarning)
                tuned = tune_pipeline_thresholds(nlp, examples, target_precision=target_precision)
        scores = evaluate_pipeline(nlp, examples)
    for name, cal in fitted.items():
        params = ", ".join(
            f"{k} = {v:.4g}" for k, v in cal.items() if isinstance(v, float) and k != "n"
        )
        msg.text(f"{name}: {cal['method']} ({params}), fitted on {cal['n']} predictions")
    for name, result in tuned.items():
        for label, fit in result["tuned"].items():
            msg.text(
                f"{name}: {label} threshold {fit['threshold']:.4g} (precision on DEV "
                f"{fit['precision'] * 100:.1f} %, recall {fit['recall'] * 100:.1f} %)"
            )
        if result["unreached"]:
            default = getattr(nlp.get_pipe(name), "cfg", {}).get("threshold", 0.5)
            msg.warn(
                f"{name}: no threshold reaches precision {target_precision} for "
                f"{', '.join(result['unreached'])} on DEV; they keep threshold {default}"
            )
    for head in unique_scored(pipeline_heads(nlp)):
        ece = scores.get(f"{head.prefix}_ece")
        if ece is not None:
            before = scores[f"{head.prefix}_ece_uncalibrated"]
            msg.text(f"{head.component}: ECE on DEV {before * 100:.2f} % -> {ece * 100:.2f} %")
    nlp.to_disk(output_dir)
    msg.good(f"Saved the calibrated pipeline to {output_dir}")
