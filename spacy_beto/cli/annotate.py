"""`annotate`: run a pipeline over a large JSONL or plain-text file, JSONL out, input order."""

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer
from wasabi import msg

from . import app
from ._util import clear_errors

if TYPE_CHECKING:
    from ..corpus.lines import Format


@app.command("annotate")
def annotate_cli(
    model: str = typer.Argument(..., help="Pipeline name or directory"),
    input_path: Path = typer.Argument(..., help="JSONL (one object per line) or text file"),
    output_path: Path = typer.Argument(..., help="JSONL file to write, one record per line"),
    fmt: str = typer.Option("auto", "--format", help="jsonl, text, or auto (by suffix)"),
    text_field: str = typer.Option("text", help="JSONL field holding the text"),
    batch_size: int = typer.Option(256, help="Docs per nlp.pipe batch"),
    n_process: int = typer.Option(1, help="Worker processes (nlp.pipe n_process)"),
    skip_invalid: bool = typer.Option(
        False, help="Leave bad lines out of OUTPUT instead of writing {line, error} records"
    ),
    progress: bool = typer.Option(True, help="Progress bar with throughput on stderr"),
    engine: str = typer.Option("local", help="local, or ray: OUTPUT is a directory of shards"),
    address: str = typer.Option(None, help="--engine ray: Ray address (auto, ray://host:port)"),
    num_workers: int = typer.Option(2, help="--engine ray: actors, one pipeline each"),
    gpus_per_worker: float = typer.Option(0.0, help="--engine ray: GPUs per actor"),
) -> None:
    """Annotate every line with each head of the pipeline (entities with offsets and labels,
    category scores, ...), in input order.

    A bad line (invalid JSON or UTF-8, no text field, unpaired surrogates) is reported with its
    line number and counted, and written as an {line, error} record (left out with
    --skip-invalid); the run goes on.
    """
    if engine != "local":  # all of the Ray path: spacy_beto/distributed/cli.py
        from ..distributed.cli import run_from_annotate

        return run_from_annotate(**locals())
    from tqdm import tqdm

    from ..annotate import annotate_stream, load_pipeline, read_items

    if fmt == "auto":
        fmt = "jsonl" if input_path.suffix.lower() in (".jsonl", ".json", ".ndjson") else "text"
    if fmt not in ("jsonl", "text"):
        msg.fail(f"--format must be jsonl, text or auto, not {fmt!r}", exits=1)
    if not input_path.is_file():
        msg.fail(f"{input_path}: input file not found", exits=1)
    with clear_errors():
        nlp = load_pipeline(model)
    with input_path.open("rb") as fileh:
        n_lines = sum(1 for line in fileh if line.strip())
    n_docs = n_words = 0
    errors = []
    fate = "skipped" if skip_invalid else "error record written"
    start = time.perf_counter()
    bar = tqdm(total=n_lines, unit="doc", file=sys.stderr, disable=not progress, smoothing=0.1)
    items = read_items(input_path, fmt=cast("Format", fmt), text_field=text_field)
    with clear_errors(), output_path.open("w", encoding="utf8") as out:
        for record in annotate_stream(
            model, items, batch_size=batch_size, n_process=n_process, nlp=nlp
        ):
            bar.update(1)
            if "error" in record:
                errors.append((record["line"], record["error"]))
                bar.write(f"{input_path}:{record['line']}: {record['error']} ({fate})")
                if skip_invalid:
                    continue
            else:
                n_docs += 1
                n_words += len(record["text"].split())
                bar.set_postfix(words_per_s=f"{n_words / (time.perf_counter() - start):.0f}")
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    bar.close()
    seconds = time.perf_counter() - start
    msg.good(
        f"Annotated {n_docs} docs ({n_words} words) in {seconds:.1f} s, "
        f"{n_words / max(seconds, 1e-9):.0f} words/s -> {output_path}"
    )
    if errors:
        lines = ", ".join(str(n) for n, _ in errors)
        if skip_invalid:
            msg.warn(f"{len(errors)} bad line(s) skipped (--skip-invalid): lines {lines}")
        else:
            msg.warn(f"{len(errors)} bad line(s) written as error records: lines {lines}")
