"""What runs inside a Ray actor: annotate one shard with `nlp.pipe`, write it atomically.

Output record (one per input record, in input order within a shard)::

    id      str    the input's id field (JSON-encoded if not a string), else the record's
                   global 0-based position in the input (files in sorted order)
    source  str    input file
    line    int    1-based line (text/JSONL) or row (Parquet) in `source`
    text    str    the text (null when it could not be read)
    ents    list   {text, label, start, end, score}: character offsets; score null if the
                   pipeline gives none
    cats    map    category -> score
    error   str    null, or why the record has no annotation (bad line, component error)
    meta    str    the other fields of a JSONL record, as JSON (null if none)
"""

import json
import logging
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .inputs import Record, Shard, filesystem, read_shard

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = ("parquet", "jsonl")
TMP_DIR = "_tmp"  # under the output directory; "_" keeps it out of pyarrow/pandas dataset reads
MAX_ERRORS_PER_SHARD = 20


def output_schema():
    import pyarrow as pa

    ent = pa.struct(
        [
            ("text", pa.string()),
            ("label", pa.string()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("score", pa.float64()),
        ]
    )
    return pa.schema(
        [
            ("id", pa.string()),
            ("source", pa.string()),
            ("line", pa.int64()),
            ("text", pa.string()),
            ("ents", pa.list_(ent)),
            ("cats", pa.map_(pa.string(), pa.float64())),
            ("error", pa.string()),
            ("meta", pa.string()),
        ]
    )


def annotated_row(doc, line_no: int, extra: Any, *, heads: Sequence[Any]) -> Dict[str, Any]:
    """The output fields of one annotated doc. The ONE call of `spacy_beto.annotate.doc_record`:
    adapt here if its signature or fields change."""
    from ..annotate import doc_record

    record = dict(doc_record(doc, line_no, extra, heads=heads))
    ents = [
        {
            "text": ent["text"],
            "label": ent["label"],
            "start": ent["start"],
            "end": ent["end"],
            "score": ent.get("score"),
        }
        for ent in record.pop("ents", [])
    ]
    cats = record.pop("cats", {})
    text = record.pop("text", doc.text)
    record.pop("line", None)
    return {"text": text, "ents": ents, "cats": cats, "error": None, "meta": record or None}


def error_row(text: Optional[str], reason: str) -> Dict[str, Any]:
    return {"text": text, "ents": [], "cats": {}, "error": reason, "meta": None}


def annotate_records(
    nlp, records: List[Record], *, batch_size: int, heads: Sequence[Any]
) -> List[Dict[str, Any]]:
    """One row per record, in order (`heads = pipeline_heads(nlp)`). A batch whose `nlp.pipe`
    raises is redone one doc at a time, so only the failing docs become error rows (with the
    exception)."""
    rows: List[Optional[Dict[str, Any]]] = [None] * len(records)
    good = [i for i, rec in enumerate(records) if rec[1] is not None]
    for i, rec in enumerate(records):
        if rec[1] is None:
            rows[i] = error_row(None, str(rec[2]))
    for lo in range(0, len(good), batch_size):
        chunk = good[lo : lo + batch_size]
        try:
            docs = list(nlp.pipe([records[i][1] for i in chunk], batch_size=batch_size))
        except Exception:  # redo one by one to find the failing docs
            docs = []
            for i in chunk:
                try:
                    docs.append(nlp(records[i][1]))
                except Exception as err:
                    logger.warning("line %d: %s: %s", records[i][0], type(err).__name__, err)
                    docs.append(f"{type(err).__name__}: {err}")
        for i, doc in zip(chunk, docs):
            line_no, text, extra, _ = records[i]
            if isinstance(doc, str):
                rows[i] = error_row(text, f"pipeline error: {doc}")
            else:
                rows[i] = annotated_row(doc, line_no, extra, heads=heads)
    return rows  # type: ignore[return-value]


def shard_output(output_dir: str, name: str, output_format: str) -> str:
    return f"{output_dir.rstrip('/')}/{name}.{output_format}"


def write_rows(fsys, path: str, rows: List[Dict[str, Any]], output_format: str) -> None:
    if output_format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(
            [
                {
                    **row,
                    "cats": list(row["cats"].items()),
                    "meta": None if row["meta"] is None else json.dumps(row["meta"]),
                }
                for row in rows
            ],
            schema=output_schema(),
        )
        with fsys.open_output_stream(path) as out:
            pq.write_table(table, out)
        return
    with fsys.open_output_stream(path) as out:
        for row in rows:
            out.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf8"))


def process_shard(
    nlp, shard: Shard, settings: Dict[str, Any], *, heads: Sequence[Any]
) -> Dict[str, Any]:
    """Annotate and write one shard unless its output already exists; return its counts.

    The shard is written to `_tmp/` and moved to its final name when complete, so a final name
    always holds a whole shard: a retried task (killed worker) finds it and does not rewrite it.
    """
    started = time.time()
    fsys, out_dir = filesystem(settings["output_dir"])
    final = shard_output(out_dir, shard.name, settings["output_format"])
    result: Dict[str, Any] = {
        "name": shard.name,
        "source": shard.uri,
        "n_read": shard.n_records,
        "n_written": 0,
        "n_failed": 0,
        "n_words": 0,
        "errors": "[]",
        "found_written": False,
        "t_start": started,
        "t_end": started,
    }
    from pyarrow import fs as pafs

    if fsys.get_file_info(final).type == pafs.FileType.File:
        result.update(n_written=shard.n_records, found_written=True, t_end=time.time())
        return result
    records = read_shard(shard, text_field=settings["text_field"], id_field=settings["id_field"])
    if len(records) != shard.n_records:  # the input changed since the plan was made
        raise RuntimeError(
            f"{shard.uri}: shard {shard.name} has {len(records)} records, the plan says "
            f"{shard.n_records}; the input changed since {settings['output_dir']} was started."
        )
    rows = annotate_records(nlp, records, batch_size=settings["batch_size"], heads=heads)
    errors: List[Tuple[int, str]] = []
    for i, (row, (line_no, text, _, rec_id)) in enumerate(zip(rows, records)):
        row["id"] = rec_id if rec_id is not None else str(shard.first_position + i)
        row["source"] = shard.uri
        row["line"] = line_no
        if row["error"] is not None:
            result["n_failed"] += 1
            if len(errors) < MAX_ERRORS_PER_SHARD:
                errors.append((line_no, row["error"]))
        elif text:
            result["n_words"] += len(text.split())
    ordered = [{key: row[key] for key in output_schema().names} for row in rows]
    suffix = f"{uuid.uuid4().hex}.{settings['output_format']}"
    tmp = f"{out_dir.rstrip('/')}/{TMP_DIR}/{shard.name}.{suffix}"
    write_rows(fsys, tmp, ordered, settings["output_format"])
    fsys.move(tmp, final)
    result.update(n_written=len(rows), errors=json.dumps(errors), t_end=time.time())
    return result


class ShardAnnotator:
    """Ray Data actor (callable class): loads the pipeline once, then annotates shards."""

    def __init__(self, settings: Dict[str, Any]) -> None:
        import spacy
        import torch

        if settings.get("code"):
            spacy.util.import_file("spacy_beto_user_code", settings["code"])
        torch.set_num_threads(settings["threads"])
        if settings.get("gpu"):
            spacy.require_gpu(0)  # Ray sets CUDA_VISIBLE_DEVICES to this actor's GPU(s)
        from ..heads import pipeline_heads

        self.nlp = spacy.load(settings["model"])
        self.heads = pipeline_heads(self.nlp)  # what each record holds: once per actor
        self.settings = settings

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, List[Any]]:
        shards = _rows(batch)
        results = [
            process_shard(self.nlp, shard, self.settings, heads=self.heads) for shard in shards
        ]
        return {key: [r[key] for r in results] for key in results[0]}


def _rows(batch: Dict[str, Any]) -> List[Shard]:
    keys = list(batch)
    n = len(batch[keys[0]])
    return [Shard(**{key: _plain(batch[key][i]) for key in keys}) for i in range(n)]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
