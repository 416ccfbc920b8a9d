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
    """Write metrics.json, report.md (P/R/F per entity type and class, confusion matrix) and
    predictions.html (predictions next to gold)."""
    import spacy
    from spacy.training import Corpus

    from ..errors import BetoConfigError
    from ..evaluation.report import (
        category_groups,
        category_prefixes,
        displacy_page,
        evaluate_pipeline,
        markdown_report,
    )

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    with clear_errors():
        if not data_path.exists():
            raise BetoConfigError(f"{data_path}: no such file or directory")
        nlp = spacy.load(model)
        examples = list(Corpus(data_path)(nlp))
        msg.info(f"Evaluating {model} on {len(examples)} documents from {data_path}")
        scores = evaluate_pipeline(nlp, examples)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(scores, indent=2), encoding="utf8")
    (output_dir / "report.md").write_text(markdown_report(scores, title=title), encoding="utf8")
    sample = random.Random(seed).sample(examples, min(n_samples, len(examples)))
    page = displacy_page(sample, n_samples=n_samples, title=title, groups=category_groups(nlp))
    (output_dir / "predictions.html").write_text(page, encoding="utf8")
    summary = []
    if scores.get("ents_f") is not None:
        summary.append(f"entity F {scores['ents_f'] * 100:.2f}")
    for prefix in category_prefixes(scores):
        what = "category" if prefix == "cats" else prefix
        summary.append(f"{what} macro-F {scores[f'{prefix}_macro_f'] * 100:.2f}")
    msg.good(f"Wrote {output_dir}/metrics.json, report.md, predictions.html ({', '.join(summary)})")
