"""Heads, declared once: what each pipeline component predicts, how to read it from a Doc, which
score keys its scorer writes, and how reports show it.

A *head kind* is registered in the `spacy_beto_heads` registry (spaCy-style, entry points
group `thinc_spacy_beto_heads`) as a function returning a `HeadKind`. `pipeline_heads(nlp)` asks
every registered kind to describe every component of a pipeline; the kinds decide from the
component itself (its `assigns`, its labels, the keys its scorer writes), never from its name.
`annotate`, `report` and `model-card` only iterate over heads, so a third head (e.g. spaCy's
`spancat`) is added by registering one function:

    @heads_registry()("my.spans.v1")
    def spans_head() -> HeadKind:
        return MySpansKind()  # describe(), read(), report_sections() ...
"""

import html
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from .errors import BetoConfigError
from .scoring import has_gold_cats

HEADS_REGISTRY = "spacy_beto_heads"
if not hasattr(registry, HEADS_REGISTRY):
    registry.create(HEADS_REGISTRY, entry_points=True)


def heads_registry() -> Any:
    """The `spacy_beto_heads` registry: `@heads_registry()("name.v1")` registers a head kind."""
    return getattr(registry, HEADS_REGISTRY)


@dataclass(frozen=True)
class Head:
    """One prediction of one pipeline component.

    `field`: the key of the prediction in an annotate record. `prefix`: the score-key prefix of
    its scorer (`ents`, `cats`, `offensive`, `spans_sc`...), None if it is not scored.
    `score_keys`: every key its scorer writes."""

    component: str
    kind: "HeadKind"
    field: str
    prefix: Optional[str]
    labels: Tuple[str, ...] = ()
    score_keys: Tuple[str, ...] = ()
    info: Dict[str, Any] = dataclass_field(default_factory=dict, compare=False)


class HeadKind:
    """How one kind of prediction is described, read and rendered. Subclass and override."""

    title: str = "Head"
    # True if the scorer reads a Doc attribute that several components may write (doc.ents:
    # entity_ruler + ner): equal score keys then mean equal scores, not a clash.
    shared_scores: bool = False
    # True if html() shows the document's text (displaCy entities); otherwise the page shows it.
    shows_text: bool = False

    def describe(
        self, name: str, pipe: Any, assigns: Sequence[str], score_keys: Sequence[str]
    ) -> Optional[Head]:
        """A Head if this kind applies to the component, else None."""
        return None

    def from_scores(self, scores: Dict[str, Any]) -> List[Head]:
        """Heads recognised in a metrics dict alone (model card from `spacy evaluate` output)."""
        return []

    def read(self, head: Head, doc: Doc) -> Any:
        """The head's prediction on `doc` as a JSON-able value for `record[head.field]`."""
        raise NotImplementedError

    def evaluate(self, head: Head, pipe: Any, examples: Sequence[Example]) -> Dict[str, Any]:
        """Extra report entries ({"confusion": {component: ...}}) beyond the scorer's keys."""
        return {}

    def report_sections(self, head: Head, scores: Dict[str, Any]) -> List[str]:
        """Markdown blocks of report.md."""
        return []

    def card_notes(self, head: Head, scores: Dict[str, Any]) -> List[str]:
        """Markdown blocks of the model card's notes."""
        return []

    def summary(self, head: Head, scores: Dict[str, Any]) -> Optional[str]:
        """A few words for the CLI's last line, e.g. "entity F 81.20"."""
        return None

    def html(self, heads: Sequence[Head], doc: Doc) -> str:
        """The displaCy page's fragment for all of this kind's heads on one (gold or predicted)
        document."""
        return ""


def pct(x: float) -> str:
    return f"{x * 100:.2f}"


def prf_rows(per_type: Iterable[Tuple[str, Dict[str, float]]]) -> List[List[str]]:
    """One [label, P, R, F] row (percentages) per (label, scores) item."""
    return [[label, pct(s["p"]), pct(s["r"]), pct(s["f"])] for label, s in per_type]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def _labels(pipe: Any) -> Tuple[str, ...]:
    return tuple(getattr(pipe, "labels", ()) or ())


def _prefix_of(keys: Sequence[str], suffix: str, also: Sequence[str] = ()) -> Optional[str]:
    """The prefix p of the first key `p{suffix}` for which every `p{a}` of `also` exists."""
    for key in keys:
        if key.endswith(suffix):
            prefix = key[: -len(suffix)]
            if all(prefix + a in keys for a in also):
                return prefix
    return None


class EntitiesKind(HeadKind):
    """A component that assigns `doc.ents` (ner, beto_ner, entity_ruler): spans with labels,
    scored by spaCy's `ents_*` keys."""

    title = "Entities"
    shared_scores = True
    shows_text = True

    def describe(
        self, name: str, pipe: Any, assigns: Sequence[str], score_keys: Sequence[str]
    ) -> Optional[Head]:
        if "doc.ents" not in assigns:
            return None
        prefix = _prefix_of(score_keys, "_per_type", ("_p", "_r", "_f"))
        return Head(name, self, "ents", prefix, _labels(pipe), tuple(score_keys))

    def from_scores(self, scores: Dict[str, Any]) -> List[Head]:
        # spaCy's NER scorer (get_ner_prf) always writes ents_p/r/f/per_type.
        return [Head("ents", self, "ents", "ents")] if "ents_f" in scores else []

    def read(self, head: Head, doc: Doc) -> Any:
        return [
            {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text}
            for e in doc.ents
        ]

    def report_sections(self, head: Head, scores: Dict[str, Any]) -> List[str]:
        p = head.prefix
        if p is None or scores.get(f"{p}_f") is None:
            return []
        rows = [["**micro**", pct(scores[f"{p}_p"]), pct(scores[f"{p}_r"]), pct(scores[f"{p}_f"])]]
        rows += prf_rows(sorted((scores.get(f"{p}_per_type") or {}).items()))
        return [
            "## Entities (exact span match, CoNLL convention)",
            markdown_table(["type", "P", "R", "F"], rows),
        ]

    def card_notes(self, head: Head, scores: Dict[str, Any]) -> List[str]:
        per_type = scores.get(f"{head.prefix}_per_type") or {}
        if not per_type:
            return []
        table = markdown_table(["Label", "P", "R", "F"], prf_rows(sorted(per_type.items())))
        return ["### Entities per type (dev)\n\n" + table]

    def summary(self, head: Head, scores: Dict[str, Any]) -> Optional[str]:
        f = scores.get(f"{head.prefix}_f")
        return None if f is None else f"entity F {f * 100:.2f}"

    def html(self, heads: Sequence[Head], doc: Doc) -> str:
        from spacy import displacy

        has_ents = doc.has_annotation("ENT_IOB")
        if has_ents and doc.ents:
            return displacy.render(doc, style="ent", jupyter=False)
        note = "(no entities)" if has_ents else "(no entity annotation)"
        return f"<p>{html.escape(doc.text)}</p><em>{note}</em>"


class CategoriesKind(HeadKind):
    """A text classifier (assigns `doc.cats`): one score per label, scored under its scorer's
    prefix (`cats_*` by default, `offensive_*`... with `[components.X.scorer] prefix`)."""

    title = "Categories"

    def describe(
        self, name: str, pipe: Any, assigns: Sequence[str], score_keys: Sequence[str]
    ) -> Optional[Head]:
        if "doc.cats" not in assigns:
            return None
        prefix = _prefix_of(score_keys, "_macro_f")
        info = {"exclusive": not getattr(pipe, "multi_label", False)}
        return Head(name, self, "cats", prefix, _labels(pipe), tuple(score_keys), info)

    def from_scores(self, scores: Dict[str, Any]) -> List[Head]:
        prefixes = [key[: -len("_macro_f")] for key in scores if key.endswith("_macro_f")]
        return [
            Head(prefix, self, "cats", prefix)
            for prefix in prefixes
            if scores[f"{prefix}_macro_f"] is not None and f"{prefix}_f_per_type" in scores
        ]

    def read(self, head: Head, doc: Doc) -> Any:
        labels = head.labels or tuple(doc.cats)
        return {label: round(float(doc.cats[label]), 6) for label in labels if label in doc.cats}

    def evaluate(self, head: Head, pipe: Any, examples: Sequence[Example]) -> Dict[str, Any]:
        """An exclusive classifier's confusion matrix, and from it `{prefix}_weighted_f` (F1
        per class weighted by gold support) and `{prefix}_accuracy` (argmax = gold): the
        EmoEvalEs / scikit-learn figures next to spaCy's macro-F1."""
        if not head.info.get("exclusive") or not head.labels:
            return {}
        matrix = confusion_matrix(examples, head.labels)
        extra: Dict[str, Any] = {"confusion": {head.component: matrix}}
        if head.prefix is not None:
            extra.update({f"{head.prefix}_{k}": v for k, v in weighted_scores(matrix).items()})
        return extra

    def _title(self, head: Head) -> str:
        return "Categories" if head.prefix == "cats" else f"Categories: `{head.prefix}`"

    def _scored(self, head: Head, scores: Dict[str, Any]) -> bool:
        p = head.prefix
        return p is not None and scores.get(f"{p}_macro_f") is not None

    def report_sections(self, head: Head, scores: Dict[str, Any]) -> List[str]:
        if not self._scored(head, scores):
            return []
        p = head.prefix
        line = f"Macro-F1 **{pct(scores[f'{p}_macro_f'])}**, "
        if scores.get(f"{p}_weighted_f") is not None:
            line += f"weighted-F1 {pct(scores[f'{p}_weighted_f'])}, "
        if scores.get(f"{p}_accuracy") is not None:
            line += f"accuracy {pct(scores[f'{p}_accuracy'])}, "
        line += (
            f"micro-F1 {pct(scores[f'{p}_micro_f'])}, "
            f"macro ROC AUC {pct(scores.get(f'{p}_macro_auc') or 0.0)}"
        )
        rows = prf_rows((scores.get(f"{p}_f_per_type") or {}).items())
        return [f"## {self._title(head)}", line, markdown_table(["class", "P", "R", "F"], rows)]

    def card_notes(self, head: Head, scores: Dict[str, Any]) -> List[str]:
        if not self._scored(head, scores):
            return []
        per_class = sorted(scores[f"{head.prefix}_f_per_type"].items())
        table = markdown_table(["Label", "P", "R", "F"], prf_rows(per_class))
        return [f"### {self._title(head)} per class (dev)\n\n" + table]

    def summary(self, head: Head, scores: Dict[str, Any]) -> Optional[str]:
        if not self._scored(head, scores):
            return None
        what = "category" if head.prefix == "cats" else head.prefix
        return f"{what} macro-F {scores[f'{head.prefix}_macro_f'] * 100:.2f}"

    def html(self, heads: Sequence[Head], doc: Doc) -> str:
        """The best category of each classifier ("category" if there is only one)."""
        parts = []
        for head in heads:
            scored = [label for label in head.labels or doc.cats if label in doc.cats]
            if scored:
                best = max(scored, key=lambda label: doc.cats[label])
                label = "category" if len(heads) < 2 else head.component
                parts.append(
                    f"<b>{html.escape(label)}</b>: {html.escape(best)} ({doc.cats[best]:.2f})"
                )
        return f"<p>{'; '.join(parts)}</p>" if parts else ""


def weighted_scores(confusion: Dict[str, Any]) -> Dict[str, float]:
    """`weighted_f` (per-class F1 weighted by gold support) and `accuracy` of a confusion
    matrix (rows gold, columns predicted); empty if it counts no document."""
    matrix = confusion["matrix"]
    total = sum(map(sum, matrix))
    if not total:
        return {}
    weighted = 0.0
    for i, row in enumerate(matrix):
        gold, pred, tp = sum(row), sum(r[i] for r in matrix), row[i]
        f1 = 2 * tp / (gold + pred) if gold + pred else 0.0
        weighted += f1 * gold / total
    accuracy = sum(matrix[i][i] for i in range(len(matrix))) / total
    return {"weighted_f": weighted, "accuracy": accuracy}


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


@heads_registry()("spacy-beto.entities.v1")
def entities_head() -> HeadKind:
    return EntitiesKind()


@heads_registry()("spacy-beto.categories.v1")
def categories_head() -> HeadKind:
    return CategoriesKind()


def head_kinds() -> List[HeadKind]:
    """One instance of every registered head kind, in registration order."""
    return [make() for make in heads_registry().get_all().values()]


def score_keys(pipe: Any) -> Tuple[str, ...]:
    """The keys the component's scorer writes, found by scoring no examples."""
    if not hasattr(pipe, "score"):
        return ()
    return tuple(pipe.score([]) or {})


def pipeline_heads(nlp: Language) -> List[Head]:
    """Every head of the pipeline, in pipeline order."""
    kinds = head_kinds()
    heads = []
    for name, pipe in nlp.pipeline:
        assigns = list(nlp.get_pipe_meta(name).assigns)
        keys = score_keys(pipe)
        for kind in kinds:
            head = kind.describe(name, pipe, assigns, keys)
            if head is not None:
                heads.append(head)
    return heads


def heads_from_scores(scores: Dict[str, Any]) -> List[Head]:
    """The heads a metrics dict has scores for (when no pipeline is at hand)."""
    return [head for kind in head_kinds() for head in kind.from_scores(scores)]


def unique_scored(heads: Sequence[Head]) -> List[Head]:
    """One head per score prefix (entity_ruler + ner share `ents_*`), scored ones only."""
    seen = set()
    out = []
    for head in heads:
        if head.prefix is not None and head.prefix not in seen:
            seen.add(head.prefix)
            out.append(head)
    return out


def check_score_keys(nlp: Language) -> None:
    """Raise BetoConfigError if two heads write the same score keys with different meanings
    (two text classifiers on the default `cats` prefix overwrite each other's scores)."""
    heads = [head for head in pipeline_heads(nlp) if head.score_keys]
    for i, first in enumerate(heads):
        for second in heads[i + 1 :]:
            if first.component == second.component:
                continue
            shared = sorted(set(first.score_keys) & set(second.score_keys))
            if not shared or (first.kind.shared_scores and second.kind.shared_scores):
                continue
            raise BetoConfigError(
                f"Components '{first.component}' and '{second.component}' write the same score "
                f"keys ({', '.join(shared[:3])}, ...): one would overwrite the other's scores. "
                f"Give '{second.component}' its own prefix: [components.{second.component}.scorer] "
                f'prefix = "{second.component}" (a setting of @scorers = '
                f'"spacy-beto.textcat_scorer.v1"), and weight its keys in [training.score_weights].'
            )
