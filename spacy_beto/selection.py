"""Uncertainty sampling: the documents a pipeline is least sure of, for annotation.

Each head kind says how confident it is of a document (`HeadKind.confidence`, 0..1): entities,
the lowest entity score or 1 - the score of the closest rejected candidate span (a margin);
categories, 1 - the normalised entropy of the distribution. A document's confidence is the
lowest over the heads the strategy uses. The input is streamed; only the `n` least confident
records are held.

Output, one JSON object per line, least confident first (the format of spaCy's and Prodigy's
JSONL annotation tasks: Prodigy's `ner.manual`/`spans.manual`/`textcat.manual` recipes and
`db-in` read `text`, `spans` as pre-annotations and keep `meta`, shown under the task)::

    {"text": "...", "spans": [{"start": 0, "end": 5, "label": "PER", "score": 0.41}],
     "cats": {"joy": 0.62, ...}, "meta": {"score": 0.41, "line": 17, "strategy": "min"}}

`start`/`end` are character offsets; other fields of a JSONL input record are kept.
"""

import heapq
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from spacy.language import Language

from .corpus.lines import TextLine
from .errors import BetoConfigError
from .heads import CategoriesKind, EntitiesKind, Head, HeadKind, pipeline_heads

STRATEGIES: Dict[str, Tuple[type, ...]] = {
    "entities": (EntitiesKind,),
    "categories": (CategoriesKind,),
    "min": (HeadKind,),  # every head
}


def strategy_heads(nlp: Language, strategy: str) -> List[Head]:
    """The pipeline's heads a strategy uses; BetoConfigError if it is unknown or none."""
    if strategy not in STRATEGIES:
        raise BetoConfigError(
            f"--strategy {strategy!r} is not one of {', '.join(STRATEGIES)} (entities: entity "
            f"scores and margins; categories: entropy; min: the least confident of all heads)."
        )
    heads = [h for h in pipeline_heads(nlp) if isinstance(h.kind, STRATEGIES[strategy])]
    heads = [h for h in heads if getattr(nlp.get_pipe(h.component), "entity_scores", True)]
    if not heads:
        raise BetoConfigError(
            f"--strategy {strategy}: the pipeline has no head to score documents with "
            f"({', '.join(nlp.pipe_names)}). Entities need a beto_ner or beto_token_ner with "
            f"entity_scores = true; categories a text classifier."
        )
    return heads


def doc_confidence(doc: Any, heads: List[Head]) -> Optional[float]:
    values = [v for h in heads if (v := h.kind.confidence(h, doc)) is not None]
    return min(values) if values else None


def select_least_confident(
    nlp: Language,
    lines: Iterable[TextLine],
    *,
    n: int,
    strategy: str = "min",
    batch_size: int = 256,
    on_doc: Optional[Callable[[int], None]] = None,
) -> List[Dict[str, Any]]:
    """The `n` least confident records of `lines` (least confident first, ties in input
    order). `on_doc(n_words)` is called per document (progress). BetoConfigError if the input
    has no text or no document could be scored."""
    heads = strategy_heads(nlp, strategy)
    all_heads = pipeline_heads(nlp)
    heap: List[Tuple[float, int, Dict[str, Any]]] = []  # (-confidence, -line, record)
    n_docs = n_scored = 0
    pairs = ((line.text, line) for line in lines)
    for doc, line in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size):
        n_docs += 1
        if on_doc is not None:
            on_doc(len(doc))
        conf = doc_confidence(doc, heads)
        if conf is None:
            continue
        n_scored += 1
        key = (-conf, -line.line)
        if len(heap) >= n and key <= heap[0][:2]:
            continue  # at least as confident as everything kept
        record = task_record(doc, line, all_heads, conf, strategy)
        if len(heap) < n:
            heapq.heappush(heap, (key[0], key[1], record))
        else:
            heapq.heapreplace(heap, (key[0], key[1], record))
    if not n_docs:
        raise BetoConfigError("The input has no text lines to select from.")
    if not n_scored:
        raise BetoConfigError(
            f"No document got a confidence from the heads of --strategy {strategy} "
            f"({', '.join(h.component for h in heads)})."
        )
    return [rec for _, _, rec in sorted(heap, key=lambda item: (-item[0], -item[1]))]


def task_record(
    doc: Any, line: TextLine, heads: List[Head], conf: float, strategy: str
) -> Dict[str, Any]:
    """One annotation task: the text, entity pre-annotations as `spans`, `cats`, `meta`."""
    record: Dict[str, Any] = {k: v for k, v in line.fields.items() if k not in ("text", "meta")}
    record["text"] = doc.text
    for head in heads:
        value = head.kind.read(head, doc)
        field = "spans" if isinstance(head.kind, EntitiesKind) else head.field
        if field not in record:
            record[field] = value
        elif isinstance(value, dict) and isinstance(record[field], dict):
            record[field].update(value)
    meta = dict(line.fields.get("meta") or {}) if isinstance(line.fields.get("meta"), dict) else {}
    meta.update({"score": round(conf, 6), "line": line.line, "strategy": strategy})
    record["meta"] = meta
    return record
