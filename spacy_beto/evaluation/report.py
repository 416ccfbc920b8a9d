"""Evaluation reports: metrics JSON, Markdown tables, textcat confusion matrices, displaCy."""

import html
import statistics
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from spacy import displacy
from spacy.language import Language
from spacy.pipeline import TextCategorizer
from spacy.scorer import Scorer
from spacy.training import Example

from ..components.textcat import BetoTextCategorizer
from ..scoring import has_gold_cats


def confusion_matrix(examples: Sequence[Example], labels: Sequence[str]) -> Dict[str, Any]:
    """Gold x predicted counts (argmax) over the examples that carry gold categories."""
    labels = list(labels)
    matrix = [[0] * len(labels) for _ in labels]
    for eg in examples:
        if not has_gold_cats(eg, labels):
            continue
        gold = max(labels, key=lambda lab: eg.reference.cats.get(lab, 0.0))
        pred = max(labels, key=lambda lab: eg.predicted.cats.get(lab, 0.0))
        matrix[labels.index(gold)][labels.index(pred)] += 1
    return {"labels": labels, "matrix": matrix}


def evaluate_pipeline(nlp: Language, examples: List[Example]) -> Dict[str, Any]:
    """The pipeline's scores (spaCy's Scorer) plus a confusion matrix per exclusive text
    classifier. The examples' `predicted` docs hold the pipeline's output afterwards."""
    for eg, doc in zip(examples, nlp.pipe(eg.predicted for eg in examples)):
        eg.predicted = doc
    scores = dict(Scorer(nlp).score(examples))
    confusions = {}
    for name, pipe in nlp.pipeline:
        if isinstance(pipe, BetoTextCategorizer) and not pipe.multi_label:
            confusions[name] = confusion_matrix(examples, pipe.labels)
    scores["confusion"] = confusions
    return scores


def category_prefixes(scores: Dict[str, Any]) -> List[str]:
    """Score-key prefixes of the text classifiers (`cats`, `offensive`, ...) that were scored,
    in pipeline order."""
    prefixes = [key[: -len("_macro_f")] for key in scores if key.endswith("_macro_f")]
    return [
        prefix
        for prefix in prefixes
        if scores[f"{prefix}_macro_f"] is not None and f"{prefix}_f_per_type" in scores
    ]


def _pct(x: float) -> str:
    return f"{x * 100:.2f}"


def prf_rows(per_type: Iterable[Tuple[str, Dict[str, float]]]) -> List[List[str]]:
    """One [label, P, R, F] row (percentages) per (label, scores) item."""
    return [[label, _pct(s["p"]), _pct(s["r"]), _pct(s["f"])] for label, s in per_type]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(scores: Dict[str, Any], *, title: str) -> str:
    """A Markdown report of entity and category scores (span-level, CoNLL convention)."""
    parts = [f"# {title}"]
    if scores.get("ents_f") is not None:
        parts.append("## Entities (exact span match, CoNLL convention)")
        rows = [
            ["**micro**", _pct(scores["ents_p"]), _pct(scores["ents_r"]), _pct(scores["ents_f"])]
        ]
        rows += prf_rows(sorted((scores.get("ents_per_type") or {}).items()))
        parts.append(markdown_table(["type", "P", "R", "F"], rows))
    for prefix in category_prefixes(scores):
        parts.append("## Categories" if prefix == "cats" else f"## Categories: `{prefix}`")
        parts.append(
            f"Macro-F1 **{_pct(scores[f'{prefix}_macro_f'])}**, "
            f"micro-F1 {_pct(scores[f'{prefix}_micro_f'])}, "
            f"macro ROC AUC {_pct(scores.get(f'{prefix}_macro_auc') or 0.0)}"
        )
        rows = prf_rows((scores.get(f"{prefix}_f_per_type") or {}).items())
        parts.append(markdown_table(["class", "P", "R", "F"], rows))
    for name, conf in (scores.get("confusion") or {}).items():
        labels = conf["labels"]
        parts.append(f"## Confusion matrix: `{name}` (rows gold, columns predicted)")
        rows = [[f"**{lab}**", *row] for lab, row in zip(labels, conf["matrix"])]
        parts.append(markdown_table(["gold \\ pred", *labels], rows))
    return "\n\n".join(parts) + "\n"


def category_groups(nlp: Language) -> List[Tuple[str, List[str]]]:
    """(component name, labels) of each text classifier, in pipeline order."""
    return [
        (name, list(pipe.labels))
        for name, pipe in nlp.pipeline
        if isinstance(pipe, TextCategorizer)
    ]


def _best_categories(cats: Dict[str, float], groups: Sequence[Tuple[str, Sequence[str]]]) -> str:
    """The best category of each classifier group (one group of all labels if none given)."""
    parts = []
    for name, labels in groups or [("category", list(cats))]:
        scored = [label for label in labels if label in cats]
        if scored:
            best = max(scored, key=cats.get)
            label = "category" if len(groups) < 2 else name
            parts.append(f"<b>{html.escape(label)}</b>: {html.escape(best)} ({cats[best]:.2f})")
    return f"<p>{'; '.join(parts)}</p>" if parts else ""


def displacy_page(
    examples: Sequence[Example],
    *,
    n_samples: int,
    title: str,
    groups: Sequence[Tuple[str, Sequence[str]]] = (),
) -> str:
    """An HTML page with predicted entities (and categories) next to the gold annotation.
    `groups` names each text classifier's labels: the page shows the best category of each."""
    blocks = []
    for i, eg in enumerate(examples[:n_samples]):
        cells = []
        for side, doc in (("gold", eg.reference), ("predicted", eg.predicted)):
            has_ents = doc.has_annotation("ENT_IOB")
            if has_ents and doc.ents:
                ents = displacy.render(doc, style="ent", jupyter=False)
            elif has_ents:
                ents = f"<p>{html.escape(doc.text)}</p><em>(no entities)</em>"
            else:
                ents = f"<p>{html.escape(doc.text)}</p><em>(no entity annotation)</em>"
            cats = _best_categories(doc.cats, groups) if doc.cats else ""
            cells.append(f"<td><h4>{side}</h4>{ents}{cats}</td>")
        blocks.append(f"<tr><td>{i + 1}</td>{''.join(cells)}</tr>")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>td{vertical-align:top;border-bottom:1px solid #ddd;padding:8px;max-width:48em}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{''.join(blocks)}</table></body></html>"
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
