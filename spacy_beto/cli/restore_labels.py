"""`restore-labels`: a published split's labels from the full corpus (EmoEvent's test split)."""

import json
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from . import app
from ._util import clear_errors


@app.command("restore-labels")
def restore_labels_cli(
    input_path: Path = typer.Argument(..., help="The split (TSV), e.g. EmoEvent's test.tsv"),
    reference_path: Path = typer.Argument(
        ..., help="The full corpus with every text's label, e.g. emoevent_es.csv"
    ),
    output_path: Path = typer.Argument(..., help="TSV to write, for `import tsv`"),
    text_col: str = typer.Option("tweet", help="Text column of the split"),
    label_col: str = typer.Option("emotion", help="Label column to restore"),
    ref_text_col: Optional[str] = typer.Option(None, help="Text column of the reference"),
    ref_label_col: Optional[str] = typer.Option(None, help="Label column of the reference"),
    min_matched: float = typer.Option(0.9, help="Fail if fewer records than this match"),
    report_path: Optional[Path] = typer.Option(
        None, "--report", help="JSON with the counts (matched, left out, changed labels)"
    ),
) -> None:
    """Split cells that hold merged records, match every record to the full corpus by
    normalised text (#tags -> HASHTAG, links -> URL, mentions -> USER), write the split with
    the corpus's labels, and report how many matched and how many were left out."""
    from ..corpus.emoevent import restore_labels

    with clear_errors():
        report = restore_labels(
            input_path,
            reference_path,
            output_path,
            text_col=text_col,
            label_col=label_col,
            ref_text_col=ref_text_col,
            ref_label_col=ref_label_col,
            min_matched=min_matched,
        )
    if report.n_merged_cells:
        msg.warn(
            f"{report.n_merged_cells} cell(s) held merged records: split into "
            f"{report.n_merged_cells + report.n_split_records} records"
        )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.label_counts.items()))
    msg.good(
        f"{input_path} -> {output_path}: {report.n_matched} of {report.n_rows} records matched "
        f"{reference_path} ({counts}); {report.n_changed} published labels differed and were "
        f"replaced"
    )
    if report.n_left_out:
        msg.warn(
            f"Left out {report.n_left_out} record(s): {report.n_unmatched} match no text of "
            f"{reference_path}, {report.n_ambiguous} match texts with different labels:"
        )
        for line in report.unmatched + report.ambiguous:
            msg.text(f"  {line}")
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        msg.info(f"Wrote {report_path}")
