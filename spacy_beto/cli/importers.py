"""`import conll2002|tsv`: public corpora and users' tables to .spacy, with per-label counts."""

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from wasabi import msg

from . import app
from ._util import clear_errors, report_skipped, split_labels

if TYPE_CHECKING:
    from ..corpus.convert import ConversionReport

import_app = typer.Typer(help="Import corpora (CoNLL-2002 NER, CSV/TSV labels) to .spacy")
app.add_typer(import_app, name="import")


def _counts(counts: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def _report(report: "ConversionReport", output: Path) -> None:
    if len(report.column_counts) > 1:
        counts = "; ".join(f"{col}: {_counts(c)}" for col, c in report.column_counts.items())
    else:
        counts = _counts(report.label_counts)
    msg.good(f"{report.path} -> {output}: {report.n_docs} docs ({counts})")
    report_skipped(report.policy)


@import_app.command("conll2002")
def conll2002_cli(
    input_path: Path = typer.Argument(..., help="CoNLL-2002 file: 'word POS IOB-tag' per line"),
    output_path: Path = typer.Argument(..., help=".spacy file to write"),
    n_sents: int = typer.Option(10, help="Sentences per document"),
    labels: str = typer.Option("PER,ORG,LOC,MISC", help="Comma-separated entity labels"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad sentences, counted"),
) -> None:
    """Import CoNLL-2002 NER, keeping sentence boundaries."""
    from ..corpus.importers import CONLL_LABELS, read_conll2002, write_docbin

    with clear_errors():
        docs, report = read_conll2002(
            input_path,
            n_sents=n_sents,
            labels=split_labels(labels) or CONLL_LABELS,
            skip_invalid=skip_invalid,
        )
        write_docbin(docs, output_path)
    _report(report, output_path)


@import_app.command("tsv")
def table_cli(
    input_path: Path = typer.Argument(..., help="CSV or TSV file with a header row"),
    output_path: Path = typer.Argument(..., help=".spacy file to write"),
    text_col: str = typer.Option("text", help="Column with the text"),
    label_col: List[str] = typer.Option(
        ["label"],
        help="Column with the (exclusive) label; repeat for several classifications, each its "
        "own exclusive group of categories (labels must differ between columns)",
    ),
    labels: Optional[str] = typer.Option(
        None, help="Comma-separated label set of the first label column (default: data)"
    ),
    id_col: Optional[str] = typer.Option(
        None,
        help="Column with the record ids (default: 'id' if the file has it); a text cell with "
        "other records' ids inline (merged by a broken quote) is an error",
    ),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad rows, counted"),
) -> None:
    """Import a CSV/TSV of texts with one label per label column (e.g. EmoEvent: --text-col tweet
    --label-col emotion [--label-col offensive])."""
    from ..corpus.importers import read_table, write_docbin

    with clear_errors():
        docs, report = read_table(
            input_path,
            text_col=text_col,
            label_col=label_col,
            labels=split_labels(labels),
            skip_invalid=skip_invalid,
            id_col=id_col,
        )
        write_docbin(docs, output_path)
    _report(report, output_path)
