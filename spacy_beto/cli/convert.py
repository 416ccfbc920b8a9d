"""`convert-corpus`: the project's JSONL corpora to .spacy, validated record by record."""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from . import app
from ._util import clear_errors, report_skipped, split_labels


@app.command("convert-corpus")
def convert_corpus_cli(
    input_path: Path = typer.Argument(..., help="JSONL file"),
    output_path: Path = typer.Argument(..., help=".spacy file to write"),
    task: str = typer.Option(..., "--task", "-t", help="'ner' or 'textcat'"),
    labels: Optional[str] = typer.Option(
        None, help="Comma-separated label set (default: PER,ORG,LOC,MISC / EmoEvent emotions)"
    ),
    lang: str = typer.Option("es", help="Language of the tokenizer"),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Skip invalid records (counted and listed) instead of failing"
    ),
) -> None:
    """Validate every record (offsets, token boundaries, labels) and write a DocBin."""
    import spacy

    from ..corpus.convert import convert_jsonl

    with clear_errors():
        label_list = split_labels(labels)
        nlp = spacy.blank(lang)
        report = convert_jsonl(
            nlp, input_path, output_path, task=task, labels=label_list, skip_invalid=skip_invalid
        )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.label_counts.items()))
    msg.good(f"{input_path} -> {output_path}: {report.n_docs} docs ({counts})")
    report_skipped(report.policy)
