"""`calibrate`: fit each head's score calibration on a held-out .spacy set; save the pipeline."""

from pathlib import Path

import typer
from wasabi import msg

from . import app
from ._util import clear_errors


@app.command("calibrate")
def calibrate_cli(
    model: str = typer.Argument(..., help="Pipeline package name or directory"),
    data_path: Path = typer.Argument(..., help="Held-out .spacy file or directory of them"),
    output_dir: Path = typer.Option(..., "--output", "-o", help="Directory for the pipeline"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
) -> None:
    """Fit a calibration per head on DEV (held out from training, and from the data you report
    on): Platt scaling of the entity scores, a temperature for exclusive categories, Platt
    scaling for multi-label categories. The pipeline is saved to OUTPUT with the calibration in
    each component's cfg, and entity scores turned on in its config; `spacy.load(OUTPUT)` uses
    them. ECE before/after is printed for DEV
    (in-sample: use `report` on another set for an honest figure)."""
    import spacy
    from spacy.util import registry

    from ..annotate import load_pipeline
    from ..errors import BetoConfigError
    from ..evaluation.confidence import calibrate_pipeline
    from ..evaluation.report import evaluate_pipeline
    from ..heads import pipeline_heads, unique_scored

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    with clear_errors():
        if not data_path.exists():
            raise BetoConfigError(f"{data_path}: no such file or directory")
        nlp = load_pipeline(model, entity_scores=True)
        read_corpus = registry.readers.get("spacy-beto.Corpus.v1")
        examples = list(read_corpus(data_path, gold_preproc=False)(nlp))
        if not examples:
            raise BetoConfigError(f"{data_path}: no documents to calibrate on")
        msg.info(f"Calibrating {model} on {len(examples)} documents from {data_path}")
        fitted = calibrate_pipeline(nlp, examples)
        scores = evaluate_pipeline(nlp, examples)
    for name, cal in fitted.items():
        params = ", ".join(f"{k} = {v:.4g}" for k, v in cal.items() if k not in ("method", "n"))
        msg.text(f"{name}: {cal['method']} ({params}), fitted on {cal['n']} predictions")
    for head in unique_scored(pipeline_heads(nlp)):
        ece = scores.get(f"{head.prefix}_ece")
        if ece is not None:
            before = scores[f"{head.prefix}_ece_uncalibrated"]
            msg.text(f"{head.component}: ECE on DEV {before * 100:.2f} % -> {ece * 100:.2f} %")
    nlp.to_disk(output_dir)
    msg.good(f"Saved the calibrated pipeline to {output_dir}")
