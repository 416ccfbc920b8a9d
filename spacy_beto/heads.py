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

import numpy
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

    def html_report(self, head: Head, scores: Dict[str, Any]) -> str:
        """An HTML fragment for the top of the report page (e.g. a reliability diagram)."""
        return ""

    def confidence(self, head: Head, doc: Doc) -> Optional[float]:
        """How sure the head is of its prediction on `doc`, 0..1 (None: no score), for
        uncertainty sampling (`select`): the least confident documents are annotated first."""
        return None


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


def _auroc(value: Optional[float]) -> str:
    return "n/a (all correct or all wrong)" if value is None else f"{value:.3f}"


def confidence_entries(
    prefix: Optional[str], scores: Sequence[float], correct: Sequence[bool], raw: Sequence[float]
) -> Dict[str, Any]:
    """Report entries `{p}_ece`, `{p}_ece_uncalibrated`, `{p}_auroc` and `{p}_confidence` (all
    of `confidence_summary`) for a head with score prefix `p`; {} without prefix or data."""
    if prefix is None or not len(scores):
        return {}
    from .evaluation.confidence import confidence_summary  # tooling: imported when reporting

    summary = confidence_summary(scores, correct, raw)
    for key in ("auroc", "auroc_uncalibrated"):
        if summary[key] != summary[key]:  # NaN: all correct or all wrong
            summary[key] = None
    return {
        f"{prefix}_ece": summary["ece"],
        f"{prefix}_ece_uncalibrated": summary["ece_uncalibrated"],
        f"{prefix}_auroc": summary["auroc"],
        f"{prefix}_confidence": summary,
    }


def confidence_sections(head: Head, scores: Dict[str, Any], what: str) -> List[str]:
    """Markdown: ECE before/after calibration, AUROC, precision/coverage at thresholds."""
    conf = scores.get(f"{head.prefix}_confidence")
    if not conf:
        return []
    line = (
        f"{conf['n']} {what}, {pct(conf['accuracy'])} % correct. ECE (10 bins) "
        f"**{pct(conf['ece'])}** (uncalibrated {pct(conf['ece_uncalibrated'])}), AUROC of the "
        f"score for correct vs wrong **{_auroc(conf['auroc'])}**"
    )
    before = conf.get("auroc_uncalibrated")
    if before is not None and conf["auroc"] is not None and abs(before - conf["auroc"]) > 5e-4:
        line += f" (uncalibrated {_auroc(before)})"
    line += "."
    noise = conf.get("ece_uncertainty")
    if noise:
        lo, hi = noise["interval"]
        line += (
            f" ECE over bootstrap resamples {pct(lo)}-{pct(hi)} (5th-95th percentile); a "
            f"perfectly calibrated model "
            f"would show {pct(noise['noise_mean'])} on average (95th percentile "
            f"{pct(noise['noise_p95'])}) on {conf['n']} predictions: smaller ECE differences "
            "are noise."
        )
    rows = [
        [
            t,
            pct(row["coverage"]),
            str(row["n"]),
            "-" if row["precision"] is None else pct(row["precision"]),
        ]
        for t, row in conf["coverage"].items()
    ]
    table = markdown_table(["score >=", "coverage %", "kept", "precision %"], rows)
    bins = [
        [f"{b['lo']:.1f}-{b['hi']:.1f}", str(b["n"]), f"{b['confidence']:.3f}", pct(b["accuracy"])]
        for b in conf["reliability"]
        if b["n"]
    ]
    reliability = markdown_table(["bin", "n", "mean score", "accuracy %"], bins)
    return [f"### Confidence: `{head.component}`", line, table, "Reliability:", reliability]


def confidence_card_note(head: Head, scores: Dict[str, Any], what: str) -> List[str]:
    ece = scores.get(f"{head.prefix}_ece")
    if ece is None:
        return []
    return [
        f"### Confidence of the {what} (dev)\n\nECE (10 bins) {pct(ece)} % after calibration, "
        f"{pct(scores[f'{head.prefix}_ece_uncalibrated'])} % before; AUROC (correct vs wrong) "
        f"{_auroc(scores.get(f'{head.prefix}_auroc'))}."
    ]


def reliability_html(head: Head, scores: Dict[str, Any]) -> str:
    conf = scores.get(f"{head.prefix}_confidence")
    if not conf:
        return ""
    from .evaluation.confidence import reliability_svg

    svg = reliability_svg(
        conf["reliability"],
        title=f"{head.component}: ECE {pct(conf['ece'])} %",
        before=conf["reliability_uncalibrated"],
    )
    return (
        f"<figure style='display:inline-block'>{svg}<figcaption>bars: calibrated, dots: "
        f"uncalibrated; AUROC {_auroc(conf['auroc'])}</figcaption></figure>"
    )


class EntitiesKind(HeadKind):
    """A component that assigns `doc.ents` (ner, beto_ner, beto_token_ner, entity_ruler):
    spans with labels, scored by spaCy's `ents_*` keys."""

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
        """Entities with character offsets; each has its `score` if the doc was scored."""
        scores = _entity_scores(doc)
        out = []
        for e in doc.ents:
            record = {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text}
            score = scores.get((e.start, e.end, e.label_))
            if score is not None:
                record["score"] = round(score, 6)
            out.append(record)
        return out

    def evaluate(self, head: Head, pipe: Any, examples: Sequence[Example]) -> Dict[str, Any]:
        """Confidence of the predicted entities (correct: same characters and label as a gold
        entity), if the component scores entities."""
        if not getattr(pipe, "entity_scores", False):
            return {}
        scores: List[float] = []
        raw: List[float] = []
        correct: List[bool] = []
        for eg in examples:
            group = eg.predicted.spans.get("ents_scored")
            if group is None or not eg.reference.has_annotation("ENT_IOB"):
                continue
            gold = {(e.start_char, e.end_char, e.label_) for e in eg.reference.ents}
            for i, span in enumerate(group):
                scores.append(float(group.attrs["scores"][i]))
                raw.append(float(group.attrs["raw_scores"][i]))
                correct.append((span.start_char, span.end_char, span.label_) in gold)
        return confidence_entries(head.prefix, scores, correct, raw)

    def confidence(self, head: Head, doc: Doc) -> Optional[float]:
        """The lowest of: each entity's score, and 1 - the score of each candidate span it did
        not choose (a margin: low if an entity is doubtful or a rejected span was close)."""
        group = doc.spans.get("ents_scored")
        if group is None:
            return None
        values = [float(s) for s in group.attrs.get("scores", ())]
        cand = doc.spans.get("ents_candidates")
        if cand is not None:
            values += [1.0 - float(s) for s in cand.attrs.get("scores", ())]
        return min(values, default=1.0)

    def html_report(self, head: Head, scores: Dict[str, Any]) -> str:
        return reliability_html(head, scores)

    def report_sections(self, head: Head, scores: Dict[str, Any]) -> List[str]:
        p = head.prefix
        if p is None or scores.get(f"{p}_f") is None:
            return []
        rows = [["**micro**", pct(scores[f"{p}_p"]), pct(scores[f"{p}_r"]), pct(scores[f"{p}_f"])]]
        rows += prf_rows(sorted((scores.get(f"{p}_per_type") or {}).items()))
        return [
            "## Entities (exact span match, CoNLL convention)",
            markdown_table(["type", "P", "R", "F"], rows),
        ] + confidence_sections(head, scores, "predicted entities")

    def card_notes(self, head: Head, scores: Dict[str, Any]) -> List[str]:
        per_type = scores.get(f"{head.prefix}_per_type") or {}
        if not per_type:
            return []
        table = markdown_table(["Label", "P", "R", "F"], prf_rows(sorted(per_type.items())))
        notes = ["### Entities per type (dev)\n\n" + table]
        return notes + confidence_card_note(head, scores, "entity scores")

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
        """A confusion matrix, `{prefix}_weighted_f` (F1 per class weighted by gold support)
        and `{prefix}_accuracy` (exclusive classes: the EmoEvalEs / scikit-learn figures next to
        spaCy's macro-F1), and the confidence of the predictions."""
        if not head.labels:
            return {}
        out = confidence_entries(head.prefix, *self._confidence_pairs(head, pipe, examples))
        if head.info.get("exclusive"):
            matrix = confusion_matrix(examples, head.labels)
            out["confusion"] = {head.component: matrix}
            if head.prefix is not None:
                out.update({f"{head.prefix}_{k}": v for k, v in weighted_scores(matrix).items()})
        return out

    def _confidence_pairs(
        self, head: Head, pipe: Any, examples: Sequence[Example]
    ) -> Tuple[List[float], List[bool], List[float]]:
        """(score, correct, uncalibrated score): exclusive: the best category's probability per
        document with gold categories, correct if it is the gold one; multi-label: per annotated
        (document, label), max(p, 1 - p), correct if p >= 0.5 agrees with gold."""
        from .calibration import invert_calibration

        labels = list(head.labels)
        cal = getattr(pipe, "calibration", None)
        annotated = [eg for eg in examples if has_gold_cats(eg, labels)]
        if not annotated:
            return [], [], []
        probs = numpy.asarray(
            [[eg.predicted.cats.get(lab, 0.0) for lab in labels] for eg in annotated]
        )
        gold = numpy.asarray(
            [[eg.reference.cats.get(lab, -1.0) for lab in labels] for eg in annotated]
        )
        if head.info.get("exclusive"):
            rows = gold.max(axis=1) == 1.0
            probs, gold = probs[rows], gold[rows]
            raw = invert_calibration(cal, probs)
            correct = probs.argmax(axis=1) == gold.argmax(axis=1)
            return probs.max(axis=1).tolist(), correct.tolist(), raw.max(axis=1).tolist()
        mask = gold >= 0.0
        p, g = probs[mask], gold[mask] > 0.5
        raw = invert_calibration(cal, p)
        return (
            numpy.maximum(p, 1 - p).tolist(),
            ((p >= 0.5) == g).tolist(),
            numpy.maximum(raw, 1 - raw).tolist(),
        )

    def confidence(self, head: Head, doc: Doc) -> Optional[float]:
        """Exclusive: 1 - the normalised entropy of the category distribution; multi-label: the
        lowest 1 - binary entropy over the labels."""
        p = numpy.asarray([doc.cats[lab] for lab in head.labels if lab in doc.cats], dtype="f8")
        if not p.size:
            return None
        if head.info.get("exclusive"):
            if p.size < 2 or p.sum() <= 0:
                return 1.0
            q = numpy.clip(p / p.sum(), 1e-12, 1.0)
            return float(1.0 + (q * numpy.log(q)).sum() / numpy.log(p.size))
        q = numpy.clip(p, 1e-12, 1 - 1e-12)
        h = -(q * numpy.log(q) + (1 - q) * numpy.log(1 - q)) / numpy.log(2.0)
        return float(1.0 - h.max())

    def html_report(self, head: Head, scores: Dict[str, Any]) -> str:
        return reliability_html(head, scores)

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
        table = markdown_table(["class", "P", "R", "F"], rows)
        what = "documents" if head.info.get("exclusive") else "(document, label) decisions"
        return [f"## {self._title(head)}", line, table] + confidence_sections(head, scores, what)

    def card_notes(self, head: Head, scores: Dict[str, Any]) -> List[str]:
        if not self._scored(head, scores):
            return []
        per_class = sorted(scores[f"{head.prefix}_f_per_type"].items())
        table = markdown_table(["Label", "P", "R", "F"], prf_rows(per_class))
        notes = [f"### {self._title(head)} per class (dev)\n\n" + table]
        return notes + confidence_card_note(head, scores, f"{self._title(head).lower()}")

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


def _entity_scores(doc: Doc) -> Dict[Tuple[int, int, str], float]:
    """(start, end, label) -> calibrated score, from `doc.spans["ents_scored"]`."""
    group = doc.spans.get("ents_scored")
    if group is None or "scores" not in group.attrs:
        return {}
    return {(s.start, s.end, s.label_): float(v) for s, v in zip(group, group.attrs["scores"])}


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
