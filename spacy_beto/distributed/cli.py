"""`python -m spacy_beto annotate-ray` (and `annotate --engine ray`): the Ray Data path."""

import sys
from pathlib import Path
from typing import Any, Dict, Optional

import typer
from wasabi import msg

from ..cli import app
from ..cli._util import clear_errors


def run_ray_cli(
    model: str,
    input_path: str,
    output_dir: str,
    *,
    id_field: str = "id",
    progress: bool = True,
    **options: Any,
) -> None:
    """Run `annotate_ray` with a records/s progress bar and a wasabi summary."""
    from tqdm import tqdm

    try:
        import ray  # noqa: F401
    except ImportError:
        msg.fail("Ray is not installed: pip install 'spacy-beto[ray]'", exits=1)
    from .run import annotate_ray

    bar: Dict[str, Any] = {}

    def on_shard(row: Dict[str, Any], summary) -> None:
        if "bar" not in bar:
            total = summary.n_to_read
            bar["bar"] = tqdm(total=total, unit="rec", file=sys.stderr, disable=not progress)
        bar["bar"].update(int(row["n_read"]))
        bar["bar"].set_postfix(words_per_s=f"{summary.words_per_s:.0f}", failed=summary.n_failed)

    with clear_errors():
        summary = annotate_ray(
            model,
            input_path,
            output_dir,
            id_field=id_field or None,
            ray_progress=progress,
            on_shard=on_shard,
            **options,  # the options of `annotate_ray` (distributed/run.py)
        )
    if "bar" in bar:
        bar["bar"].close()
    if summary.n_shards_skipped:
        msg.info(
            f"Resumed: {summary.n_shards_skipped} of {summary.n_shards} shards already written"
        )
    for uri in summary.files_left_out:
        msg.warn(f"{uri}: left out (unknown suffix; give --format to read it)")
    for source, line_no, reason in summary.error_examples[:20]:
        msg.warn(f"{source}:{line_no}: {reason}")
    for source, n in summary.failed_per_file.items():
        msg.warn(f"{source}: {n} record(s) written with an error")
    msg.good(
        f"Read {summary.n_read} records, wrote {summary.n_written} ({summary.n_failed} failed) in "
        f"{summary.n_shards_done} shards, {summary.seconds:.1f} s, "
        f"{summary.words_per_s:.0f} words/s -> {summary.output_dir}"
    )
    if summary.n_shards_left:
        msg.info(f"{summary.n_shards_left} shard(s) left (--max-shards); rerun to continue")


@app.command("annotate-ray")
def annotate_ray_cli(
    model: str = typer.Argument(..., help="Pipeline name or directory, loadable on every worker"),
    input_path: str = typer.Argument(..., help="File, directory or URI: JSONL, text, Parquet"),
    output_dir: str = typer.Argument(..., help="Directory or URI for the output shards"),
    input_format: str = typer.Option("auto", "--format", help="auto, jsonl, text or parquet"),
    output_format: str = typer.Option("parquet", help="parquet or jsonl"),
    text_field: str = typer.Option("text", help="JSONL field / Parquet column with the text"),
    id_field: str = typer.Option("id", help="Field/column with record ids ('' = by position)"),
    shard_size: int = typer.Option(10_000, help="Records per output shard (unit of resume)"),
    batch_size: int = typer.Option(64, help="nlp.pipe batch size in each worker"),
    num_workers: int = typer.Option(2, help="Actors, each holding one pipeline"),
    threads_per_worker: int = typer.Option(1, help="CPUs (torch threads) per actor"),
    gpus_per_worker: float = typer.Option(0.0, help="GPUs per actor (0.5: two per GPU)"),
    max_retries: int = typer.Option(3, help="Retries of a shard whose worker died"),
    max_shards: Optional[int] = typer.Option(None, help="Stop after this many new shards"),
    code: Optional[Path] = typer.Option(None, help="Python file, custom components"),  # noqa: B008
    address: Optional[str] = typer.Option(None, help="Ray address: auto, ray://host:port"),
    progress: bool = typer.Option(True, help="Progress bars on stderr"),
) -> None:
    """Annotate a corpus on a Ray cluster: one output record per input record, resumable.

    Bad records (invalid JSON or UTF-8, no text) and records a component fails on are written
    with an `error`, never dropped; re-running the same command skips the shards written.
    """
    run_ray_cli(**locals())  # the parameters above are run_ray_cli's / annotate_ray's


def run_from_annotate(**options: Any) -> None:
    """`annotate --engine ray`: the `annotate` command's options, mapped onto `run_ray_cli`.

    Takes the command's locals so that `annotate` needs one line to delegate; options the Ray
    path does not share (e.g. --n-process, --skip-invalid) are checked here."""
    engine = options.get("engine")
    if engine != "ray":
        msg.fail(f"--engine must be local or ray, not {engine!r}", exits=1)
    if options.get("skip_invalid"):
        msg.fail(
            "--skip-invalid is not available with --engine ray: bad records are "
            "always written with their error (filter on `error` when reading)",
            exits=1,
        )
    if options.get("n_process", 1) != 1:
        msg.fail("--n-process is for --engine local; with --engine ray use --num-workers", exits=1)
    fmt = options.get("fmt", "auto")
    run_ray_cli(
        str(options["model"]),
        str(options["input_path"]),
        str(options["output_path"]),
        input_format=fmt,
        text_field=options.get("text_field", "text"),
        batch_size=options.get("batch_size", 64),
        num_workers=options.get("num_workers", 2),
        gpus_per_worker=options.get("gpus_per_worker", 0.0),
        address=options.get("address"),
        progress=options.get("progress", True),
    )
