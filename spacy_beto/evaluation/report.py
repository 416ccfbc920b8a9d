"""Evaluation reports: metrics JSON, Markdown tables, textcat confusion matrices, displaCy.

What is scored and shown comes from the pipeline's heads (`spacy_beto.heads`), not from
component names: a registered head kind is reported without changes here."""

import html
import statistics
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.scorer import Scorer
from spacy.training import Example

from ..heads import (
    CategoriesKind,
    EntitiesKind,
    Head,
    confusion_matrix,
    heads_from_scores,
    markdown_table,
    pipeline_heads,
    prf_rows,
    unique_scored,
)

__all__ = [
    "aggregate",
    "category_groups",
    "category_prefixes",
    "confusion_matrix",
    "displacy_page",
    "evaluate_pipeline",
    "markdown_report",
    "markdown_table",
    "prf_rows",
    "report_summary",
]


def evaluate_pipeline(nlp: Language, examples: List[Example]) -> Dict[str, Any]:
    """The pipeline's scores (spaCy's Scorer) plus what each head adds (a confusion matrix per
    exclusive text classifier). The examples' `predicted` docs hold the pipeline's output."""
    for eg, doc in zip(examples, nlp.pipe(eg.predicted for eg in examples)):
        eg.predicted = doc
    scores = dict(Scorer(nlp).score(examples))
    scores["confusion"] = {}
    for head in pipeline_heads(nlp):
        extra = head.kind.evaluate(head, nlp.get_pipe(head.component), examples)
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(scores.get(key), dict):
                scores[key].update(value)  # "confusion": one entry per component
            else:
                scores[key] = value  # e.g. ents_ece, cats_confidence
    return scores


def category_prefixes(scores: Dict[str, Any]) -> List[str]:
    """Score-key prefixes of the text classifiers (`cats`, `offensive`, ...) that were scored,
    in pipeline order."""
    heads = heads_from_scores(scores)
    return [head.prefix for head in heads if isinstance(head.kind, CategoriesKind) and head.prefix]


def markdown_report(
    scores: Dict[str, Any], *, title: str, heads: Optional[Sequence[Head]] = None
) -> str:
    """A Markdown report with each head's scores (entities: span-level, CoNLL convention;
    categories: macro/micro-F1 and per class) and the confusion matrices. Without `heads`, the
    heads are recognised from the score keys."""
    heads = heads_from_scores(scores) if heads is None else heads
    parts = [f"# {title}"]
    for head in unique_scored(heads):
        parts += head.kind.report_sections(head, scores)
    for name, conf in (scores.get("confusion") or {}).items():
        labels = conf["labels"]
        parts.append(f"## Confusion matrix: `{name}` (rows gold, columns predicted)")
        rows = [[f"**{lab}**", *row] for lab, row in zip(labels, conf["matrix"])]
        parts.append(markdown_table(["gold \\ pred", *labels], rows))
    return "\n\n".join(parts) + "\n"


def report_summary(scores: Dict[str, Any], heads: Sequence[Head]) -> str:
    """e.g. "entity F 81.20, category macro-F 40.00": one phrase per scored head."""
    phrases = [head.kind.summary(head, scores) for head in unique_scored(heads)]
    return ", ".join(phrase for phrase in phrases if phrase)


def category_groups(nlp: Language) -> List[Tuple[str, List[str]]]:
    """(component name, labels) of each text classifier, in pipeline order."""
    return [
        (head.component, list(head.labels))
        for head in pipeline_heads(nlp)
        if isinstance(head.kind, CategoriesKind)
    ]


def _heads_for_groups(groups: Sequence[Tuple[str, Sequence[str]]]) -> List[Head]:
    """Entity and text-classifier heads for `displacy_page(groups=...)` without a pipeline."""
    cats = CategoriesKind()
    groups = groups or [("category", ())]  # one group of all the document's categories
    return [Head("ents", EntitiesKind(), "ents", "ents")] + [
        Head(name, cats, "cats", None, tuple(labels)) for name, labels in groups
    ]


def _cell(doc: Any, heads: Sequence[Head]) -> str:
    """One document's heads, grouped by kind in order of appearance."""
    kinds: Dict[int, Tuple[Any, List[Head]]] = {}
    for head in heads:
        kinds.setdefault(id(head.kind.__class__), (head.kind, []))[1].append(head)
    fragments = [kind.html(group, doc) for kind, group in kinds.values()]
    if not any(kind.shows_text for kind, _ in kinds.values()):
        fragments.insert(0, f"<p>{html.escape(doc.text)}</p>")
    return "".join(fragments)


def displacy_page(
    examples: Sequence[Example],
    *,
    n_samples: int,
    title: str,
    heads: Optional[Sequence[Head]] = None,
    groups: Sequence[Tuple[str, Sequence[str]]] = (),
    scores: Optional[Dict[str, Any]] = None,
) -> str:
    """An HTML page with each head's predictions next to the gold annotation (displaCy
    entities, the best category of each classifier, ...). Give the pipeline's `heads`, or
    `groups` (each text classifier's labels) for entities and categories. With `scores`, each
    head's report fragment (reliability diagrams) heads the page."""
    heads = _heads_for_groups(groups) if heads is None else heads
    top = (
        "".join(head.kind.html_report(head, scores) for head in unique_scored(heads))
        if scores
        else ""
    )
    blocks = []
    for i, eg in enumerate(examples[:n_samples]):
        cells = [
            f"<td><h4>{side}</h4>{_cell(doc, heads)}</td>"
            for side, doc in (("gold", eg.reference), ("predicted", eg.predicted))
        ]
        blocks.append(f"<tr><td>{i + 1}</td>{''.join(cells)}</tr>")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>td{vertical-align:top;border-bottom:1px solid #ddd;padding:8px;max-width:48em}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{top}<table>{''.join(blocks)}</table></body></html>"
    )


def aggregate(runs: Sequence[Dict[str, Any]], keys: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """Mean and standard deviation of scalar scores over several runs (e.g. seeds)."""
    out = {}
    for key in keys:
        values = [float(run[key]) for run in runs if run.get(key) is not None]
        if values:
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            out[key] = {"mean": statistics.fmean(values), "std": std, "n": len(values)}
    return out
