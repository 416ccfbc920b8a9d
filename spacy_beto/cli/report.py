"""`report`: evaluate a pipeline on a corpus and write metrics JSON, Markdown and displaCy HTML."""

import json
import random
from pathlib import Path

import typer
from wasabi import msg

from . import app
from ._util import clear_errors


@app.command("report")
def report_cli(
    model: str = typer.Argument(..., help="Pipeline package name or directory"),
    data_path: Path = typer.Argument(..., help=".spacy file or directory of them"),
    output_dir: Path = typer.Option(..., "--output", "-o", help="Directory for the report"),
    n_samples: int = typer.Option(25, help="Sample documents on the displaCy page"),
    title: str = typer.Option("es_beto_trf evaluation", help="Report title"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
    seed: int = typer.Option(0, help="Seed for choosing the displaCy samples"),
) -> None:
    """Write metrics.json, report.md (P/R/F per entity type and class, confusion matrix, and the
    confidence of scored heads: ECE before/after calibration, AUROC, precision/coverage at
    0.5/0.7/0.9) and predictions.html (reliability diagrams, predictions next to gold), for
    every head of the pipeline."""
    import spacy
    from spacy.util import registry

    from ..annotate import load_pipeline
    from ..errors import BetoConfigError
    from ..evaluation.report import (
        displacy_page,
        evaluate_pipeline,
        markdown_report,
        report_summary,
    )
    from ..heads import pipeline_heads

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    with clear_errors():
        if not data_path.exists():
            raise BetoConfigError(f"{data_path}: no such file or directory")
        nlp = load_pipeline(model)
        # Looked up by name: the reader names a corrupt .spacy file instead of a deep traceback.
        read_corpus = registry.readers.get("spacy-beto.Corpus.v1")
        examples = list(read_corpus(data_path, gold_preproc=False)(nlp))
        msg.info(f"Evaluating {model} on {len(examples)} documents from {data_path}")
        heads = pipeline_heads(nlp)
        scores = evaluate_pipeline(nlp, examples)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(scores, indent=2), encoding="utf8")
    report = markdown_report(scores, title=title, heads=heads)
    (output_dir / "report.md").write_text(report, encoding="utf8")
    sample = random.Random(seed).sample(examples, min(n_samples, len(examples)))
    page = displacy_page(sample, n_samples=n_samples, title=title, heads=heads, scores=scores)
    (output_dir / "predictions.html").write_text(page, encoding="utf8")
    summary = report_summary(scores, heads)
    msg.good(f"Wrote {output_dir}/metrics.json, report.md, predictions.html ({summary})")
