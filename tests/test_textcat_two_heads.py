"""Two beto_textcat components (EmoEvent's emotion and offensive) on the same documents."""

import numpy
import pytest
import spacy
from spacy.scorer import Scorer
from spacy.training import Example

from spacy_beto import BetoConfigError
from spacy_beto.cli.model_card import build_card
from spacy_beto.corpus.convert import EMOTION_LABELS, textcat_doc
from spacy_beto.evaluation.report import (
    category_groups,
    displacy_page,
    evaluate_pipeline,
    markdown_report,
)

OFFENSIVE_LABELS = ["NO", "OFF"]
N_OFFENSIVE = 12  # the first 12 emotion documents also carry OFF/NO, the others only emotions


def emotion_offensive_examples(nlp, records):
    examples = []
    for i, rec in enumerate(records):
        ref = textcat_doc(nlp, rec, f"emo:{i}", EMOTION_LABELS)
        if i < N_OFFENSIVE:
            off = i % 3 == 0
            ref.cats = {**ref.cats, "NO": float(not off), "OFF": float(off)}
        examples.append(Example(nlp.make_doc(rec["text"]), ref))
    return examples


def two_head_pipeline(model_config, *, labels: bool):
    nlp = spacy.blank("es")
    if "name" in model_config:
        nlp.add_pipe("beto_transformer", name="transformer", config={"model": model_config})
        head = {}
    else:
        head = {"model": model_config}
    nlp.add_pipe("beto_textcat", name="textcat", config=head)
    scorer = {"@scorers": "spacy-beto.textcat_scorer.v1", "prefix": "offensive"}
    nlp.add_pipe("beto_textcat", name="offensive", config={**head, "scorer": scorer})
    if labels:
        nlp.config["initialize"]["components"] = {
            "textcat": {"labels": list(EMOTION_LABELS)},
            "offensive": {"labels": OFFENSIVE_LABELS},
        }
    return nlp


@pytest.fixture(scope="module")
def trained(tiny_model_dir, emotion_records):
    nlp = two_head_pipeline({"name": str(tiny_model_dir)}, labels=True)
    examples = emotion_offensive_examples(nlp, emotion_records[:30])
    spacy.util.fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    losses: dict = {}
    for _ in range(2):
        for batch in spacy.util.minibatch(examples, 8):
            nlp.update(batch, sgd=optimizer, losses=losses)
    assert losses["textcat"] > 0 and losses["offensive"] > 0
    return nlp, examples


def test_each_head_has_its_own_labels(trained):
    nlp, _ = trained
    assert list(nlp.get_pipe("textcat").labels) == list(EMOTION_LABELS)
    assert list(nlp.get_pipe("offensive").labels) == OFFENSIVE_LABELS
    doc = nlp("Qué asco de gente.")
    assert set(doc.cats) == {*EMOTION_LABELS, *OFFENSIVE_LABELS}


def test_document_without_offensive_cats_gives_no_gradient(trained):
    nlp, examples = trained
    offensive = nlp.get_pipe("offensive")
    egs = [examples[0], examples[N_OFFENSIVE]]  # emotion + OFF/NO, emotion only
    docs = list(nlp.pipe(eg.text for eg in egs))
    scores = numpy.asarray([[doc.cats[lab] for lab in offensive.labels] for doc in docs], "f")
    _, d_scores = offensive.get_loss(egs, scores)
    d_scores = numpy.asarray(d_scores)
    assert numpy.abs(d_scores[0]).sum() > 0
    assert numpy.abs(d_scores[1]).sum() == 0
    # the emotion head learns from both
    textcat = nlp.get_pipe("textcat")
    scores = numpy.asarray([[doc.cats[lab] for lab in textcat.labels] for doc in docs], "f")
    _, d_scores = textcat.get_loss(egs, scores)
    assert (numpy.abs(numpy.asarray(d_scores)).sum(axis=1) > 0).all()


def test_evaluate_scores_each_head_under_its_prefix(trained, emotion_records):
    nlp, _ = trained
    dev = emotion_offensive_examples(nlp, emotion_records[20:40])  # 12 with OFF/NO, 8 without
    scores = nlp.evaluate(dev)
    assert scores["cats_score"] is not None and scores["offensive_score"] is not None
    assert set(scores["cats_f_per_type"]) == set(EMOTION_LABELS)
    assert set(scores["offensive_f_per_type"]) == set(OFFENSIVE_LABELS)
    # offensive: only the documents with OFF/NO count (nlp.evaluate predicts on copies)
    for eg, doc in zip(dev, nlp.pipe(eg.predicted for eg in dev)):
        eg.predicted = doc
    with_off = [eg for eg in dev if "OFF" in eg.reference.cats]
    assert len(with_off) == N_OFFENSIVE
    expected = Scorer.score_cats(with_off, "cats", labels=OFFENSIVE_LABELS, multi_label=False)
    assert scores["offensive_micro_p"] == pytest.approx(expected["cats_micro_p"])
    assert scores["offensive_f_per_type"] == expected["cats_f_per_type"]
    everything = Scorer.score_cats(dev, "cats", labels=OFFENSIVE_LABELS, multi_label=False)
    assert everything["cats_micro_p"] < scores["offensive_micro_p"]
    expected = Scorer.score_cats(dev, "cats", labels=EMOTION_LABELS, multi_label=False)
    assert scores["cats_f_per_type"] == expected["cats_f_per_type"]


def test_report_has_both_classifiers(trained, emotion_records):
    nlp, _ = trained
    dev = emotion_offensive_examples(nlp, emotion_records[20:40])
    scores = evaluate_pipeline(nlp, dev)
    assert scores["confusion"]["textcat"]["labels"] == list(EMOTION_LABELS)
    off = scores["confusion"]["offensive"]
    assert off["labels"] == OFFENSIVE_LABELS and sum(map(sum, off["matrix"])) == N_OFFENSIVE
    report = markdown_report(scores, title="t")
    assert "## Categories\n" in report and "## Categories: `offensive`" in report
    assert "| OFF |" in report and "| surprise |" in report


def test_model_card_and_displacy_show_both_classifiers(trained, emotion_records):
    nlp, _ = trained
    dev = emotion_offensive_examples(nlp, emotion_records[20:40])
    scores = evaluate_pipeline(nlp, dev)
    card = build_card(scores, {"name": "x"}, "mini")
    assert card["performance"]["offensive_macro_f"] == scores["offensive_macro_f"]
    assert card["performance"]["cats_macro_f"] == scores["cats_macro_f"]
    assert "confusion" not in card["performance"]
    assert "### Categories: `offensive` per class (dev)" in card["notes"]
    assert "### Categories per class (dev)" in card["notes"] and "| surprise |" in card["notes"]
    groups = category_groups(nlp)
    assert groups == [("textcat", list(EMOTION_LABELS)), ("offensive", OFFENSIVE_LABELS)]
    page = displacy_page(dev[:3], n_samples=3, title="t", groups=groups)
    for eg in dev[:3]:
        for name, labels in groups:
            best = max(labels, key=eg.predicted.cats.get)
            assert f"<b>{name}</b>: {best} ({eg.predicted.cats[best]:.2f})" in page


def test_without_labels_several_classifications_is_a_clear_error(emotion_records):
    bow = {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True,
           "ngram_size": 1, "no_output_layer": False}  # fmt: skip
    nlp = two_head_pipeline(bow, labels=False)
    examples = emotion_offensive_examples(nlp, emotion_records[:20])
    with pytest.raises(BetoConfigError, match=r"\[initialize.components.textcat.labels\]"):
        nlp.initialize(lambda: examples)
    nlp = two_head_pipeline(bow, labels=True)
    nlp.initialize(lambda: examples)
    assert list(nlp.get_pipe("offensive").labels) == OFFENSIVE_LABELS


def test_given_labels_still_validate_their_own_categories(emotion_records):
    bow = {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True,
           "ngram_size": 1, "no_output_layer": False}  # fmt: skip
    nlp = two_head_pipeline(bow, labels=True)
    examples = emotion_offensive_examples(nlp, emotion_records[:20])
    examples[0].reference.cats["OFF"] = examples[0].reference.cats["NO"] = 1.0
    with pytest.raises(ValueError, match="E895"):
        nlp.initialize(lambda: examples)
