"""Batch annotation: JSONL or plain-text lines in, one JSON record per line out, in order."""

import itertools
import json
import logging
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc

logger = logging.getLogger(__name__)

# (line number, text, extra fields of a JSONL record) or (line number, None, error message)
Item = Tuple[int, Optional[str], Any]


@dataclass
class AnnotateReport:
    """Counts of an annotation run; `errors` holds (line number, reason) of each bad line."""

    n_lines: int = 0
    n_docs: int = 0
    n_words: int = 0
    errors: List[Tuple[int, str]] = field(default_factory=list)


def read_items(path: Union[str, Path], *, fmt: str, text_field: str = "text") -> Iterator[Item]:
    """Yield (line, text, extra) per non-blank input line, or (line, None, reason) if it is bad:
    invalid UTF-8 or JSON, no string `text_field`, or unpaired surrogates (e.g. "\\ud800")."""
    with Path(path).open("rb") as fileh:
        for line_no, raw in enumerate(fileh, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                yield line_no, None, f"invalid UTF-8 ({err.reason} at byte {err.start})"
                continue
            if fmt == "text":
                yield line_no, line, None
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                yield line_no, None, f"invalid JSON: {err.msg} (column {err.colno})"
                continue
            if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                yield line_no, None, f"no string field '{text_field}'"
                continue
            text = record.pop(text_field)
            try:
                text.encode("utf8")
            except UnicodeEncodeError:
                yield line_no, None, f"field '{text_field}' has unpaired surrogates"
                continue
            yield line_no, text, record


def doc_record(doc: Doc, line_no: int, extra: Any) -> Dict[str, Any]:
    """The output record of one annotated doc: entities with character offsets, category scores."""
    record: Dict[str, Any] = {"line": line_no}
    if isinstance(extra, dict):
        record.update(extra)
    record["text"] = doc.text
    record["ents"] = [
        {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text}
        for e in doc.ents
    ]
    record["cats"] = {label: round(float(score), 6) for label, score in doc.cats.items()}
    return record


def annotate_batch(nlp: Language, items: List[Item], *, batch_size: int) -> List[Dict[str, Any]]:
    """Annotate a list of items; bad items become {"line": n, "error": reason}, in place."""
    good = [(text, (line_no, extra)) for line_no, text, extra in items if text is not None]
    docs = iter(nlp.pipe(good, as_tuples=True, batch_size=batch_size))
    out = []
    for line_no, text, extra in items:
        if text is None:
            out.append({"line": line_no, "error": extra})
        else:
            doc, (doc_line, doc_extra) = next(docs)
            out.append(doc_record(doc, doc_line, doc_extra))
    return out


_WORKER_NLP: Optional[Language] = None


def _init_worker(model: str, batch_size: int) -> None:
    global _WORKER_NLP
    import spacy
    import torch

    torch.set_num_threads(1)
    _WORKER_NLP = spacy.load(model)
    _WORKER_NLP.batch_size = batch_size


def _work(items: List[Item]) -> List[Dict[str, Any]]:
    assert _WORKER_NLP is not None
    return annotate_batch(_WORKER_NLP, items, batch_size=_WORKER_NLP.batch_size)


def chunked(items: Iterable[Item], size: int) -> Iterator[List[Item]]:
    chunk: List[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def annotate_stream(
    model: Union[str, Path],
    items: Iterable[Item],
    *,
    batch_size: int = 256,
    n_process: int = 1,
    nlp: Optional[Language] = None,
) -> Iterator[Dict[str, Any]]:
    """Yield one record per item, in input order. n_process > 1 uses spawned workers, each
    loading `model` with one torch thread (no fork: forked torch can hang)."""
    if n_process <= 1:
        if nlp is None:
            import spacy

            nlp = spacy.load(model)
        for chunk in chunked(items, batch_size):
            yield from annotate_batch(nlp, chunk, batch_size=batch_size)
        return
    ctx = multiprocessing.get_context("spawn")
    env_threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update({k: "1" for k in env_threads})
    try:
        with ctx.Pool(n_process, _init_worker, (str(model), batch_size)) as pool:
            # A few tasks per worker at a time: memory stays bounded on huge inputs.
            tasks = chunked(items, batch_size)
            while True:
                window = list(itertools.islice(tasks, 4 * n_process))
                if not window:
                    break
                for records in pool.imap(_work, window):
                    yield from records
    finally:
        for key, value in env_threads.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
