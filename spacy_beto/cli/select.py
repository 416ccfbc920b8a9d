"""`select`: the documents a pipeline is least sure of, as annotation tasks (JSONL)."""

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer
from wasabi import msg

from . import app
from ._util import clear_errors, report_skipped

if TYPE_CHECKING:
    from ..corpus.lines import Format


@app.command("select")
def select_cli(
    model: str = typer.Argument(..., help="Pipeline name or directory"),
    input_path: Path = typer.Argument(..., help="JSONL (one object per line) or text file"),
    output_path: Path = typer.Option(..., "--output", "-o", help="JSONL file of tasks to write"),
    n: int = typer.Option(500, "--n", help="How many documents to select"),
    strategy: str = typer.Option(
        "min", help="entities (entity score margin), categories (entropy), min (all heads)"
    ),
    fmt: str = typer.Option("auto", "--format", help="jsonl, text, or auto (by suffix)"),
    text_field: str = typer.Option("text", help="JSONL field holding the text"),
    batch_size: int = typer.Option(256, help="Docs per nlp.pipe batch"),
    skip_invalid: bool = typer.Option(False, help="Skip bad lines (counted) instead of failing"),
    progress: bool = typer.Option(True, help="Progress bar with throughput on stderr"),
) -> None:
    """Write the N documents of INPUT the pipeline is least confident of, least confident first,
    as spaCy/Prodigy-style tasks: {"text", "spans": [{start, end, label, score}], "cats",
    "meta": {"score", "line", "strategy"}} (see spacy_beto/selection.py). INPUT is streamed."""
    from tqdm import tqdm

    from ..annotate import load_pipeline
    from ..corpus.lines import LinePolicy, read_records
    from ..errors import BetoConfigError, require_positive
    from ..selection import select_least_confident, strategy_heads

    with clear_errors():
        require_positive(n=n, batch_size=batch_size)
        if not input_path.is_file():
            raise BetoConfigError(f"{input_path}: input file not found")
        nlp = load_pipeline(model, entity_scores=strategy != "categories")
        strategy_heads(nlp, strategy)  # unknown strategy / no head: fail before reading
        policy = LinePolicy(skip_invalid=skip_invalid)
        lines = policy.good(
            read_records(input_path, fmt=cast("Format", fmt), text_field=text_field)
        )
        bar = tqdm(unit="doc", file=sys.stderr, disable=not progress, smoothing=0.1)
        start = time.perf_counter()
        n_words = 0

        def on_doc(words: int) -> None:
            nonlocal n_words
            n_words += words
            bar.update(1)
            bar.set_postfix(words_per_s=f"{n_words / (time.perf_counter() - start):.0f}")

        records = select_least_confident(
            nlp, lines, n=n, strategy=strategy, batch_size=batch_size, on_doc=on_doc
        )
        bar.close()
    report_skipped(policy)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with output_path.open("w", encoding="utf8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    lo = records[0]["meta"]["score"] if records else 0.0
    hi = records[-1]["meta"]["score"] if records else 0.0
    msg.good(
        f"Selected {len(records)} of {bar.n} docs (confidence {lo:.3f}-{hi:.3f}, strategy "
        f"{strategy}) -> {output_path}"
    )
