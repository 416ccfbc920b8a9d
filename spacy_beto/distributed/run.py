"""`annotate_ray`: annotate a corpus with a spaCy pipeline on a Ray cluster, with Ray Data.

Flow: list the input files → plan shards (a Ray Data pass over the files, one task per file)
→ keep the shards whose output file does not exist yet → `map_batches` over the shards with a
pool of `ShardAnnotator` actors (one pipeline per actor, `nlp.pipe` over the shard's records)
→ each actor writes its shard's output file atomically. Ray Data schedules, streams, retries
and reports progress; this module only decides what a shard is and what is already done.
"""

import json
import logging
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import BetoConfigError, CorpusError, require_positive
from .inputs import Shard, absolute, filesystem, fix_uri, list_inputs, plan_file, shard_to_dict
from .worker import OUTPUT_FORMATS, TMP_DIR, ShardAnnotator

logger = logging.getLogger(__name__)

MANIFEST = "_spacy_beto_manifest.json"
MANIFEST_VERSION = 1


@dataclass
class RaySummary:
    """Counts of one `annotate_ray` call. Records are counted once, whatever the retries."""

    output_dir: str
    n_files: int = 0
    n_shards: int = 0  # in the whole input
    n_shards_skipped: int = 0  # already written by an earlier run (resume)
    n_shards_done: int = 0  # finished in this run
    n_shards_left: int = 0  # not started in this run (max_shards)
    n_records: int = 0  # in the whole input
    n_to_read: int = 0  # records of the shards this run processes
    n_read: int = 0  # records read in this run
    n_written: int = 0  # records written in this run (errors included)
    n_failed: int = 0  # records written with an error
    n_words: int = 0
    seconds: float = 0.0
    failed_per_file: Dict[str, int] = field(default_factory=dict)
    error_examples: List[Tuple[str, int, str]] = field(default_factory=list)  # (file, line, why)
    files_left_out: List[str] = field(default_factory=list)  # unknown suffix in a directory
    processing_seconds: float = 0.0  # first shard started -> last shard finished, in actors

    @property
    def words_per_s(self) -> float:
        return self.n_words / self.seconds if self.seconds else 0.0

    def as_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "words_per_s": self.words_per_s}


def _init_ray(address: Optional[str]) -> None:
    import ray

    if ray.is_initialized():
        return
    # address None: start a local Ray (or join the one RAY_ADDRESS names); "auto": the running
    # cluster on this machine; "ray://host:port": a remote cluster through Ray Client.
    ray.init(address=address, log_to_driver=True)


def _plan(files, *, shard_size: int, text_field: str) -> List[Shard]:
    """Shards of every file, planned in parallel by Ray Data (one task per file)."""
    import ray

    items = [{"index": i, "file": asdict(f)} for i, f in enumerate(files)]

    def plan(row: Dict[str, Any]) -> List[Dict[str, Any]]:
        from .inputs import InputFile

        try:
            shards = plan_file(
                row["index"], InputFile(**row["file"]), shard_size=shard_size, text_field=text_field
            )
        except CorpusError as err:  # returned, not raised: Ray would wrap it in its own errors
            return [{"shard": "", "error": str(err)}]
        return [{"shard": json.dumps(shard_to_dict(s)), "error": ""} for s in shards]

    rows = ray.data.from_items(items, override_num_blocks=len(items)).flat_map(plan).take_all()
    errors = [row["error"] for row in rows if row["error"]]
    if errors:
        raise CorpusError("\n".join(errors))
    rows = [row for row in rows if row["shard"]]
    shards = [Shard(**json.loads(row["shard"])) for row in rows]
    shards.sort(key=lambda s: (s.file_index, s.shard_index))
    position = 0
    for shard in shards:
        shard.first_position = position
        position += shard.n_records
    return shards


def _load_or_write_manifest(
    fsys, out_dir: str, settings: Dict[str, Any], files, plan: Callable[[], List[Shard]]
) -> List[Shard]:
    """The shard plan: from OUTPUT's manifest when resuming (same inputs and settings), or
    made now and saved. A manifest for other inputs or settings is an error, never mixed."""
    from pyarrow import fs as pafs

    path = f"{out_dir}/{MANIFEST}"
    key = {
        "version": MANIFEST_VERSION,
        "inputs": [[f.uri, f.fmt, f.size] for f in files],
        **{k: settings[k] for k in ("shard_size", "text_field", "id_field", "output_format")},
    }
    if fsys.get_file_info(path).type == pafs.FileType.File:
        with fsys.open_input_stream(path) as stream:
            manifest = json.loads(stream.read().decode("utf8"))
        if manifest.get("key") != key:
            changed = [k for k in key if manifest.get("key", {}).get(k) != key[k]]
            raise BetoConfigError(
                f"{out_dir} holds the output of another run (different {', '.join(changed)}). "
                "Use a new output directory, or the same inputs and options to resume."
            )
        return [Shard(**s) for s in manifest["shards"]]
    shards = plan()
    with fsys.open_output_stream(path) as out:
        data = {"key": key, "shards": [shard_to_dict(s) for s in shards]}
        out.write(json.dumps(data, ensure_ascii=False).encode("utf8"))
    return shards


def annotate_ray(
    model: Union[str, Path],
    inputs: Union[str, Path, Sequence[Union[str, Path]]],
    output_dir: Union[str, Path],
    *,
    input_format: str = "auto",
    output_format: str = "parquet",
    text_field: str = "text",
    id_field: Optional[str] = "id",
    shard_size: int = 10_000,
    batch_size: int = 64,
    num_workers: int = 2,
    threads_per_worker: int = 1,
    gpus_per_worker: float = 0.0,
    max_retries: int = 3,
    max_shards: Optional[int] = None,
    code: Optional[Union[str, Path]] = None,
    address: Optional[str] = None,
    ray_progress: bool = True,
    on_shard: Optional[Callable[[Dict[str, Any], RaySummary], None]] = None,
) -> RaySummary:
    """Annotate every record of `inputs` with the pipeline `model`, one output file per shard.

    model: a pipeline package name or directory that every Ray worker can load.
    inputs: files or directories (local or URIs pyarrow/Ray Data read: s3://, gs://, ...) of
        JSONL (`text_field`, optional `id_field`), plain text (one record per non-blank line)
        or Parquet (column `text_field`, optional column `id_field`).
    output_dir: gets `part-FFFFF-SSSSS.parquet|jsonl` (file F of the input, shard S of it),
        records in input order; the same directory again resumes: written shards are skipped.
    shard_size: records per shard (and per output file; the unit of retry and resume).
    batch_size: `nlp.pipe` batch size inside an actor.
    num_workers / threads_per_worker / gpus_per_worker: the actor pool: each actor holds one
        pipeline, takes `threads_per_worker` CPUs (its torch threads) and that many GPUs.
    max_retries: times a shard is retried after its worker died; then the run stops with the
        error (written shards are kept, a rerun resumes).
    max_shards: process at most this many of the pending shards, then stop (incremental runs).
    code: a Python file to import in every actor before loading (custom components), as
        spaCy's `--code`.
    on_shard: called on the driver with each finished shard's counts and the running summary.
    """
    try:
        import ray  # noqa: F401
    except ImportError as err:
        raise BetoConfigError("Ray is not installed: pip install 'spacy-beto[ray]'") from err
    if output_format not in OUTPUT_FORMATS:
        raise BetoConfigError(f"--output-format must be parquet or jsonl, not {output_format!r}.")
    require_positive(
        shard_size=shard_size,
        batch_size=batch_size,
        num_workers=num_workers,
        threads_per_worker=threads_per_worker,
    )
    if gpus_per_worker < 0:
        raise BetoConfigError(f"gpus_per_worker must be >= 0, got {gpus_per_worker}.")
    if max_shards is not None and max_shards < 0:
        raise BetoConfigError(f"max_shards must be >= 0, got {max_shards}.")
    if code is not None and not Path(code).is_file():
        raise BetoConfigError(f"{code}: --code file not found.")
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    start = time.perf_counter()
    files, left_out = list_inputs([fix_uri(str(p)) for p in inputs], fmt=input_format)
    for uri in left_out:
        logger.warning("%s: left out (unknown suffix; give --format to read it)", uri)
    # Workers do not share the driver's working directory: local paths are made absolute.
    if Path(model).exists():
        model = Path(model).resolve()
    output_uri = absolute(str(output_dir))
    settings: Dict[str, Any] = {
        "model": str(model),
        "output_dir": output_uri,
        "output_format": output_format,
        "text_field": text_field,
        "id_field": id_field,
        "shard_size": shard_size,
        "batch_size": batch_size,
        "threads": threads_per_worker,
        "gpu": gpus_per_worker > 0,
        "code": None if code is None else str(Path(code).resolve()),
    }
    fsys, out_dir = filesystem(settings["output_dir"])
    out_dir = out_dir.rstrip("/")
    fsys.create_dir(out_dir, recursive=True)
    _init_ray(address)
    shards = _load_or_write_manifest(
        fsys,
        out_dir,
        settings,
        files,
        lambda: _plan(files, shard_size=shard_size, text_field=text_field),
    )
    # Leftovers of killed workers; a run owns its output directory (never run two at once).
    fsys.delete_dir_contents(f"{out_dir}/{TMP_DIR}", missing_dir_ok=True)
    fsys.create_dir(f"{out_dir}/{TMP_DIR}", recursive=True)

    from pyarrow import fs as pafs

    written = {
        info.path.rsplit("/", 1)[-1]
        for info in fsys.get_file_info(pafs.FileSelector(out_dir))
        if info.type == pafs.FileType.File
    }
    pending = [s for s in shards if f"{s.name}.{output_format}" not in written]
    summary = RaySummary(
        output_dir=settings["output_dir"],
        n_files=len(files),
        n_shards=len(shards),
        n_shards_skipped=len(shards) - len(pending),
        n_records=sum(s.n_records for s in shards),
        files_left_out=left_out,
    )
    if max_shards is not None:
        summary.n_shards_left = max(0, len(pending) - max_shards)
        pending = pending[:max_shards]
    summary.n_to_read = sum(s.n_records for s in pending)
    if pending:
        _run(
            pending,
            settings,
            summary,
            num_workers=num_workers,
            threads=threads_per_worker,
            gpus=gpus_per_worker,
            max_retries=max_retries,
            ray_progress=ray_progress,
            on_shard=on_shard,
            start=start,
        )
    fsys.delete_dir(f"{out_dir}/{TMP_DIR}")
    summary.seconds = time.perf_counter() - start
    logger.info(
        "annotate_ray: %d records read, %d written, %d failed, %.0f words/s -> %s",
        summary.n_read,
        summary.n_written,
        summary.n_failed,
        summary.words_per_s,
        out_dir,
    )
    return summary


def _run(
    pending: List[Shard],
    settings: Dict[str, Any],
    summary: RaySummary,
    *,
    num_workers: int,
    threads: int,
    gpus: float,
    max_retries: int,
    ray_progress: bool,
    on_shard: Optional[Callable[[Dict[str, Any], RaySummary], None]],
    start: float,
) -> None:
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = ray_progress
    items = [shard_to_dict(s) for s in pending]
    ds: ray.data.Dataset = ray.data.from_items(items, override_num_blocks=len(pending))
    # COMPAT: Ray Data takes actor fault-tolerance settings only as extra `ray_remote_args`
    # (deprecated in 2.60, to be removed in 2.64 with no named replacement yet): restart a dead
    # actor always, retry its shard `max_retries` times (Ray's default, -1, retries forever).
    remote_args: Dict[str, Any] = {"max_restarts": -1, "max_task_retries": max_retries}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
        ds = ds.map_batches(
            ShardAnnotator,
            fn_constructor_kwargs={"settings": settings},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=num_workers),
            num_cpus=threads,
            num_gpus=gpus or None,
            **remote_args,
        )
    first, last = float("inf"), 0.0
    per_file: Counter = Counter()
    for row in ds.iter_rows():
        summary.n_shards_done += 1
        summary.n_read += int(row["n_read"])
        summary.n_written += int(row["n_written"])
        summary.n_failed += int(row["n_failed"])
        summary.n_words += int(row["n_words"])
        if row["n_failed"]:
            per_file[row["source"]] += int(row["n_failed"])
        for line_no, reason in json.loads(row["errors"]):
            if len(summary.error_examples) < 100:
                summary.error_examples.append((row["source"], line_no, reason))
        first, last = min(first, float(row["t_start"])), max(last, float(row["t_end"]))
        summary.seconds = time.perf_counter() - start
        if on_shard is not None:
            on_shard(dict(row), summary)
    summary.failed_per_file = dict(per_file)
    summary.processing_seconds = max(0.0, last - first)
