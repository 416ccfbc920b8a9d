"""Heads declared once: a toy third head registered here is reported and annotated by the
unchanged `report` and `annotate` commands; two heads on one score prefix are an error."""

import json

import catalogue
import pytest
import spacy
from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokens import DocBin, Span
from typer.testing import CliRunner

from spacy_beto.cli import app
from spacy_beto.corpus.convert import CONLL_LABELS, EMOTION_LABELS, ner_doc, textcat_doc
from spacy_beto.errors import BetoConfigError
from spacy_beto.heads import (
    CategoriesKind,
    EntitiesKind,
    Head,
    HeadKind,
    check_score_keys,
    heads_registry,
    pct,
    pipeline_heads,
)

TOY_KIND = "test-heads.toy_spans.v1"
BOW = {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True,
       "ngram_size": 1, "no_output_layer": False}  # fmt: skip


def caps_spans(doc, key):
    """The toy's rule: every title-case token after the first is a CAP span."""
    return [Span(doc, t.i, t.i + 1, label="CAP") for t in doc[1:] if t.is_title]


class ToyCaps:
    """A third head that is neither an entity recognizer nor a text classifier: it writes
    doc.spans[key] and scores it with spaCy's span scorer (keys spans_{key}_*)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.labels = ("CAP",)

    def __call__(self, doc):
        doc.spans[self.key] = caps_spans(doc, self.key)
        return doc

    def score(self, examples, **kwargs):
        return Scorer.score_spans(
            examples,
            f"spans_{self.key}",
            getter=lambda doc, attr: doc.spans.get(self.key, []),
            has_annotation=lambda doc: self.key in doc.spans,
        )


@Language.factory("test_heads_toy_caps", assigns=["doc.spans"], default_config={"key": "sc"})
def make_toy_caps(nlp: Language, name: str, key: str) -> ToyCaps:
    return ToyCaps(key)


class ToySpansKind(HeadKind):
    """How the toy head is read, scored and shown: the one thing a third head registers."""

    def describe(self, name, pipe, assigns, score_keys):
        if "doc.spans" not in assigns:
            return None
        prefix = f"spans_{pipe.key}"
        return Head(name, self, "spans", prefix, tuple(pipe.labels), tuple(score_keys))

    def read(self, head, doc):
        key = head.prefix[len("spans_") :]
        return {key: [[s.start_char, s.end_char, s.label_] for s in doc.spans.get(key, [])]}

    def report_sections(self, head, scores):
        return [f"## Spans `{head.prefix}`", f"F {pct(scores[head.prefix + '_f'])}"]

    def summary(self, head, scores):
        return f"spans F {pct(scores[head.prefix + '_f'])}"

    def html(self, heads, doc):
        spans = [s.text for head in heads for s in doc.spans.get(head.prefix[len("spans_") :], [])]
        return f"<p><b>spans</b>: {' | '.join(spans)}</p>"


@pytest.fixture()
def toy_kind():
    heads_registry()(TOY_KIND, func=lambda: ToySpansKind())
    yield
    catalogue._remove(heads_registry().namespace + (TOY_KIND,))  # registries are global


@pytest.fixture()
def toy_pipeline_dir(saved_pipeline, tmp_path):
    nlp = spacy.load(saved_pipeline)  # a copy: the shared fixture stays unchanged
    nlp.add_pipe("test_heads_toy_caps", name="caps")
    nlp.to_disk(tmp_path / "toy")
    return tmp_path / "toy"


def test_pipeline_heads_from_components(trained_nlp):
    heads = [(h.component, h.field, h.prefix, type(h.kind)) for h in pipeline_heads(trained_nlp)]
    assert heads == [
        ("ner", "ents", "ents", EntitiesKind),
        ("textcat", "cats", "cats", CategoriesKind),
    ]
    textcat = pipeline_heads(trained_nlp)[1]
    assert textcat.labels == tuple(trained_nlp.get_pipe("textcat").labels)
    assert "cats_macro_f" in textcat.score_keys


def test_toy_head_is_reported_and_annotated(toy_kind, toy_pipeline_dir, tmp_path, ner_records,
                                            emotion_records):  # fmt: skip
    nlp = spacy.load(toy_pipeline_dir)
    assert [h.component for h in pipeline_heads(nlp)] == ["ner", "textcat", "caps"]
    docs = [ner_doc(nlp, r, "n", CONLL_LABELS) for r in ner_records[:6]]
    docs += [textcat_doc(nlp, r, "e", EMOTION_LABELS) for r in emotion_records[:6]]
    for doc in docs[:4]:  # gold spans on 4 documents: every title-case token but the last
        doc.spans["sc"] = caps_spans(doc, "sc")[:-1]
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "dev.spacy")

    out = tmp_path / "report"
    args = ["report", str(toy_pipeline_dir), str(tmp_path / "dev.spacy"), "--output", str(out),
            "--n-samples", "12"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    examples = list(spacy.util.registry.readers.get("spacy-beto.Corpus.v1")(
        tmp_path / "dev.spacy", gold_preproc=False)(nlp))  # fmt: skip
    predicted = list(nlp.pipe(eg.predicted for eg in examples))
    for eg, doc in zip(examples, predicted):
        eg.predicted = doc
    expected = nlp.get_pipe("caps").score(examples)
    assert 0 < expected["spans_sc_p"] < 1 and expected["spans_sc_r"] == 1.0  # only 4 annotated
    assert metrics["spans_sc_f"] == pytest.approx(expected["spans_sc_f"])
    assert metrics["ents_f"] is not None and metrics["cats_macro_f"] is not None
    report = (out / "report.md").read_text()
    assert f"## Spans `spans_sc`\n\nF {pct(expected['spans_sc_f'])}" in report
    assert "## Entities" in report and "## Categories" in report
    assert f"spans F {pct(expected['spans_sc_f'])}" in result.output.replace("\n", " ")
    page = (out / "predictions.html").read_text()
    assert page.count("<p><b>spans</b>: ") == 24  # gold and predicted side of 12 documents

    src, annotated = tmp_path / "in.txt", tmp_path / "out.jsonl"
    texts = ["María López llegó a Bogotá con Ana.", "sin mayúsculas aquí"]
    src.write_text("\n".join(texts) + "\n", encoding="utf8")
    result = CliRunner().invoke(app, ["annotate", str(toy_pipeline_dir), str(src), str(annotated),
                                      "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in annotated.read_text(encoding="utf8").splitlines()]
    assert records[0]["spans"] == {"sc": [[6, 11, "CAP"], [20, 26, "CAP"], [31, 34, "CAP"]]}
    assert records[1]["spans"] == {"sc": []}
    assert all("ents" in r and set(r["cats"]) == set(EMOTION_LABELS) for r in records)


def two_classifiers(emotion_records, *, prefix=None):
    """Emotion `textcat` and `sentiment` (NO/OFF), the second on `prefix` if given."""
    nlp = spacy.blank("es")
    nlp.add_pipe("beto_textcat", name="textcat", config={"model": BOW})
    config = {"model": BOW}
    if prefix:
        config["scorer"] = {"@scorers": "spacy-beto.textcat_scorer.v1", "prefix": prefix}
    nlp.add_pipe("beto_textcat", name="sentiment", config=config)
    nlp.config["initialize"]["components"] = {
        "textcat": {"labels": sorted({rec["label"] for rec in emotion_records[:10]})},
        "sentiment": {"labels": ["NO", "OFF"]},
    }
    examples = []
    for i, rec in enumerate(emotion_records[:10]):
        ref = textcat_doc(nlp, rec, f"e{i}", EMOTION_LABELS)
        ref.cats = {**ref.cats, "NO": float(i % 2), "OFF": float(1 - i % 2)}
        examples.append(spacy.training.Example(nlp.make_doc(rec["text"]), ref))
    return nlp, examples


def test_two_classifiers_on_one_prefix_fail_at_initialize(emotion_records):
    nlp, examples = two_classifiers(emotion_records)
    with pytest.raises(BetoConfigError) as err:
        nlp.initialize(lambda: examples)
    assert str(err.value) == (
        "Components 'textcat' and 'sentiment' write the same score keys (cats_auc_per_type, "
        "cats_f_per_type, cats_macro_auc, ...): one would overwrite the other's scores. Give "
        "'sentiment' its own prefix: [components.sentiment.scorer] prefix = \"sentiment\" (a "
        'setting of @scorers = "spacy-beto.textcat_scorer.v1"), and weight its keys in '
        "[training.score_weights]."
    )
    nlp, examples = two_classifiers(emotion_records, prefix="sentiment")
    nlp.initialize(lambda: examples)
    assert [h.prefix for h in pipeline_heads(nlp)] == ["cats", "sentiment"]
    scores = nlp.evaluate(examples)
    assert set(scores["sentiment_f_per_type"]) == {"NO", "OFF"}
    assert "NO" not in scores["cats_f_per_type"]


def test_entity_components_may_share_ents_keys():
    """entity_ruler + ner both score doc.ents: same keys, same values, no clash."""
    nlp = spacy.blank("es")
    nlp.add_pipe("entity_ruler")
    nlp.add_pipe("beto_ner", name="ner")
    nlp.add_pipe("beto_textcat", name="textcat", config={"model": BOW})
    check_score_keys(nlp)
    assert [h.prefix for h in pipeline_heads(nlp)] == ["ents", "ents", "cats"]
    nlp.add_pipe("textcat", name="odd")  # spaCy's own text classifier: cats_* too
    with pytest.raises(BetoConfigError, match=r"'textcat' and 'odd' .*prefix = \"odd\""):
        check_score_keys(nlp)
