"""Batch annotation: JSONL or plain-text lines in, one JSON record per line out, in order.

What a record holds comes from the pipeline's heads (`spacy_beto.heads`): `ents` for an entity
recognizer, `cats` for text classifiers, and a field per registered head kind."""

import logging
from collections import deque
from pathlib import Path
from typing import Any, Deque, Dict, Iterable, Iterator, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc
from thinc.api import Config

from .corpus.lines import BadLine, Format, read_records
from .errors import BetoConfigError
from .heads import Head, pipeline_heads

logger = logging.getLogger(__name__)

# (line number, text, extra fields of a JSONL record) or (line number, None, error message)
Item = Tuple[int, Optional[str], Any]


def read_items(path: Union[str, Path], *, fmt: Format, text_field: str = "text") -> Iterator[Item]:
    """Yield (line, text, extra) per non-blank input line, or (line, None, reason) if it is bad
    (corpus/lines.py: invalid UTF-8 or JSON, no string `text_field`, unpaired surrogates)."""
    for rec in read_records(path, fmt=fmt, text_field=text_field):
        if isinstance(rec, BadLine):
            yield rec.line, None, rec.reason
        else:
            yield rec.line, rec.text, rec.fields if fmt == "jsonl" else None


def load_pipeline(model: Union[str, Path], *, entity_scores: bool = False) -> Language:
    """spacy.load(model), with a one-line BetoConfigError if `model` is neither an installed
    pipeline package nor an existing directory (e.g. a misspelled name). With `entity_scores`,
    every entity recognizer that has the setting is loaded with `entity_scores = true` (in
    `nlp.config` too, so a pipeline saved from it keeps them on); the config is read first, so
    the pipeline is loaded once."""
    import spacy
    from spacy.util import is_package

    if not Path(model).exists() and not is_package(str(model)):
        raise BetoConfigError(
            f"Cannot load the pipeline '{model}': it is neither an installed pipeline package "
            f"nor a pipeline directory. Check the name, install the package (pip install the "
            f"pipeline's wheel, e.g. es_beto_trf) or give a directory written by nlp.to_disk() "
            f"or spacy train."
        )
    if not entity_scores:
        return spacy.load(model)
    components = pipeline_config(model)["components"]
    off = [name for name, cfg in components.items() if cfg.get("entity_scores") is False]
    return spacy.load(model, config={"components": {n: {"entity_scores": True} for n in off}})


def pipeline_config(model: Union[str, Path]) -> Config:
    """The config.cfg of a pipeline directory or of an installed pipeline package (the data
    directory `spacy package` writes inside it), not interpolated, without loading weights."""
    from spacy.util import get_package_path, load_config, load_meta

    path = Path(model)
    if not path.exists():
        package = get_package_path(str(model))
        meta = load_meta(package / "meta.json")
        path = package / f"{meta['lang']}_{meta['name']}-{meta['version']}"
    return load_config(path / "config.cfg", interpolate=False)


def doc_record(doc: Doc, line_no: int, extra: Any, *, heads: Sequence[Head]) -> Dict[str, Any]:
    """The output record of one annotated doc: {"line", extra fields..., "text"} and one field
    per head (`ents` with character offsets, `cats` with scores, ...). Heads sharing a field
    (several text classifiers: `cats`) merge their dicts. `heads = pipeline_heads(nlp)`."""
    record: Dict[str, Any] = {"line": line_no}
    if isinstance(extra, dict):
        record.update(extra)
    record["text"] = doc.text
    for head in heads:
        value = head.kind.read(head, doc)
        if head.field not in record:
            record[head.field] = value
        elif isinstance(value, dict) and isinstance(record[head.field], dict):
            record[head.field].update(value)
    return record


def error_record(line_no: int, reason: str) -> Dict[str, Any]:
    return {"line": line_no, "error": reason}


def annotate_stream(
    model: Union[str, Path],
    items: Iterable[Item],
    *,
    batch_size: int = 256,
    n_process: int = 1,
    nlp: Optional[Language] = None,
) -> Iterator[Dict[str, Any]]:
    """Yield one record per item, in input order: `doc_record` for a good item, `error_record`
    for a bad one. The items are streamed through `nlp.pipe(as_tuples=True, n_process=...)`:
    memory is bounded by nlp.pipe's buffers (plus the error records of a run of bad lines)."""
    if nlp is None:
        nlp = load_pipeline(model)
    heads = pipeline_heads(nlp)
    pending: Deque[Item] = deque()  # items read but not yet written, in input order

    def good_items() -> Iterator[Tuple[str, Item]]:
        for item in items:
            pending.append(item)
            if item[1] is not None:
                yield item[1], item

    def flush_errors() -> Iterator[Dict[str, Any]]:
        while pending and pending[0][1] is None:
            line_no, _, reason = pending.popleft()
            yield error_record(line_no, reason)

    docs = nlp.pipe(good_items(), as_tuples=True, batch_size=batch_size, n_process=n_process)
    for doc, (line_no, _, extra) in docs:
        yield from flush_errors()
        pending.popleft()
        yield doc_record(doc, line_no, extra, heads=heads)
    yield from flush_errors()
