"""Convert the project's JSONL corpora to spaCy's DocBin, validating every record.

NER records: {"text": str, "entities": [[start, end, label], ...]}. Documents get entity
annotation and no categories (missing for textcat).
Textcat records: {"text": str, "label": str} or {"labels": [str, ...]}. Documents get
categories and no entity annotation (missing for NER).
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin

from ..errors import CorpusError
from .lines import LinePolicy, read_records

CONLL_LABELS = ("PER", "ORG", "LOC", "MISC")
EMOTION_LABELS = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "others")


@dataclass
class ConversionReport:
    """What a conversion read, wrote and skipped (`policy` counts and lists the skips)."""

    path: Path
    n_docs: int = 0
    label_counts: Counter = field(default_factory=Counter)
    # Per label column of a table import, in column order (empty for other imports).
    column_counts: Dict[str, Counter] = field(default_factory=dict)
    policy: LinePolicy = field(default_factory=LinePolicy)

    @property
    def skipped(self) -> List[str]:
        """ "FILE:LINE: reason" of the skipped lines (the first `policy.max_listed`)."""
        return self.policy.listed

    @property
    def n_skipped(self) -> int:
        return self.policy.n_skipped


def _text(record: Any, where: str) -> str:
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: expected a JSON object, got {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise CorpusError(f"{where}: field 'text' must be a non-empty string")
    return text


def ner_doc(nlp: Language, record: Any, where: str, labels: Sequence[str]) -> Doc:
    """A Doc with the record's entities; raises CorpusError naming `where` on any problem."""
    text = _text(record, where)
    entities = record.get("entities", [])
    if not isinstance(entities, list):
        raise CorpusError(f"{where}: field 'entities' must be a list of [start, end, label]")
    doc = nlp.make_doc(text)
    spans: List[Any] = []
    for ent in entities:
        if (
            not isinstance(ent, (list, tuple))
            or len(ent) != 3
            or not all(isinstance(x, int) for x in ent[:2])
        ):
            raise CorpusError(f"{where}: entity {ent!r} is not [start, end, label]")
        start, end, label = ent
        if label not in labels:
            raise CorpusError(
                f"{where}: unknown entity label {label!r}; known labels: {', '.join(labels)}"
            )
        if not 0 <= start < end <= len(text):
            raise CorpusError(f"{where}: entity {ent!r} is outside the text (length {len(text)})")
        span = doc.char_span(start, end, label=label)
        if span is None:
            near = doc.char_span(start, end, label=label, alignment_mode="expand")
            hint = f" (nearest token span: {near.text!r})" if near is not None else ""
            raise CorpusError(
                f"{where}: entity {text[start:end]!r} [{start}, {end}] does not start and end "
                f"on token boundaries{hint}; fix the offsets"
            )
        if spans and span.start < spans[-1].end:
            raise CorpusError(f"{where}: entity {ent!r} overlaps {spans[-1].text!r}")
        spans.append(span)
    doc.set_ents(spans, default="outside")
    return doc


def textcat_doc(nlp: Language, record: Any, where: str, labels: Sequence[str]) -> Doc:
    """A Doc whose cats mark the record's label(s) 1.0 and every other known label 0.0."""
    text = _text(record, where)
    if "labels" in record:
        gold = record["labels"]
        if not isinstance(gold, list) or not all(isinstance(x, str) for x in gold):
            raise CorpusError(f"{where}: field 'labels' must be a list of strings")
    elif isinstance(record.get("label"), str):
        gold = [record["label"]]
    else:
        raise CorpusError(f"{where}: missing field 'label' (a string) or 'labels' (a list)")
    unknown = [x for x in gold if x not in labels]
    if unknown:
        raise CorpusError(f"{where}: unknown label(s) {unknown}; known labels: {', '.join(labels)}")
    doc = nlp.make_doc(text)
    doc.cats = {label: float(label in gold) for label in labels}
    return doc


def convert_jsonl(
    nlp: Language,
    path: Union[str, Path],
    output: Union[str, Path],
    *,
    task: str,
    labels: Optional[Sequence[str]] = None,
    skip_invalid: bool = False,
) -> ConversionReport:
    """Convert one JSONL file for `task` ("ner" or "textcat") to a .spacy file.

    An unreadable line or invalid record raises CorpusError with file:line, or with
    `skip_invalid` is skipped, counted and listed in the report.
    """
    if task not in ("ner", "textcat"):
        raise CorpusError(f"unknown task {task!r}: use 'ner' or 'textcat'")
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    labels = tuple(labels or (CONLL_LABELS if task == "ner" else EMOTION_LABELS))
    make = ner_doc if task == "ner" else textcat_doc
    report = ConversionReport(path, policy=LinePolicy(skip_invalid=skip_invalid, unit="record"))
    docbin = DocBin(store_user_data=False)
    for line in report.policy.good(read_records(path, fmt="jsonl")):
        try:
            doc = make(nlp, {**line.fields, "text": line.text}, line.where, labels)
        except CorpusError as err:
            report.policy.reject(str(err))
            continue
        docbin.add(doc)
        report.n_docs += 1
        if task == "ner":
            report.label_counts.update(ent.label_ for ent in doc.ents)
        else:
            report.label_counts.update(k for k, v in doc.cats.items() if v == 1.0)
    if report.n_docs == 0:
        skipped = f" ({report.policy.summary()})" if report.n_skipped else ""
        raise CorpusError(f"{path}: no valid records{skipped}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    docbin.to_disk(output)
    return report
