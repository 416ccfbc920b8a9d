"""beto_textcat treats documents without gold categories as missing, unlike spaCy's textcat."""

import numpy
import pytest
import spacy
from spacy.training import Example

from spacy_beto import BetoConfigError
from spacy_beto.scoring import score_cats_with_missing

LABELS = ["joy", "sadness", "others"]


def make_nlp(factory, **cfg):
    nlp = spacy.blank("es")
    textcat = nlp.add_pipe(
        factory,
        config={
            "model": {
                "@architectures": "spacy.TextCatBOW.v3",
                "exclusive_classes": not cfg.get("multi_label", False),
                "ngram_size": 1,
                "no_output_layer": False,
            },
            **cfg,
        },
    )
    return nlp, textcat


def examples(nlp):
    labelled = nlp.make_doc("¡Qué alegría!")
    labelled.cats = {"joy": 1.0, "sadness": 0.0, "others": 0.0}
    unlabelled = nlp.make_doc("El Real Madrid ganó en Sevilla.")  # a NER document: no cats
    return [
        Example(nlp.make_doc(labelled.text), labelled),
        Example(nlp.make_doc(unlabelled.text), unlabelled),
    ]


@pytest.mark.parametrize("factory", ["textcat", "beto_textcat"])
def test_gradient_of_unlabelled_document(factory):
    nlp, textcat = make_nlp(factory)
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    scores = textcat.model.predict([eg.predicted for eg in egs])
    loss, d_scores = textcat.get_loss(egs, scores)
    d_scores = numpy.asarray(d_scores)
    assert numpy.abs(d_scores[0]).sum() > 0
    if factory == "textcat":
        # spaCy's exclusive textcat pushes the unlabelled doc towards all-zero: the bug we fix.
        assert numpy.abs(d_scores[1]).sum() > 0
    else:
        assert numpy.abs(d_scores[1]).sum() == 0


def test_loss_ignores_unlabelled_documents():
    nlp, textcat = make_nlp("beto_textcat")
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    scores = textcat.model.predict([eg.predicted for eg in egs])
    loss_both, _ = textcat.get_loss(egs, scores)
    loss_labelled, _ = textcat.get_loss(egs[:1], scores[:1])
    assert loss_both == pytest.approx(loss_labelled)


def test_training_only_on_labelled_docs_matches_mixed_batch():
    """Updates from [labelled, unlabelled] equal updates from [labelled] alone."""
    predictions = []
    for use_unlabelled in (False, True):
        nlp, _ = make_nlp("beto_textcat")
        egs = examples(nlp)
        optimizer = nlp.initialize(lambda egs=egs: egs)
        batch = egs if use_unlabelled else egs[:1]
        for _ in range(3):
            nlp.update(batch, sgd=optimizer, drop=0.0)
        predictions.append(nlp("Un día cualquiera en Madrid.").cats)
    assert predictions[0] == pytest.approx(predictions[1])


def test_scoring_skips_unlabelled_documents():
    nlp = spacy.blank("es")
    gold = nlp.make_doc("¡Qué alegría!")
    gold.cats = {"joy": 1.0, "sadness": 0.0, "others": 0.0}
    pred = nlp.make_doc(gold.text)
    pred.cats = {"joy": 0.9, "sadness": 0.05, "others": 0.05}
    ner_doc = nlp.make_doc("Lionel Messi juega en Miami.")
    ner_pred = nlp.make_doc(ner_doc.text)
    ner_pred.cats = {"joy": 0.1, "sadness": 0.8, "others": 0.1}
    egs = [Example(pred, gold), Example(ner_pred, ner_doc)]
    ours = score_cats_with_missing(egs, labels=LABELS)
    assert ours["cats_f_per_type"]["joy"]["f"] == 1.0
    assert ours["cats_f_per_type"]["sadness"]["p"] == 0.0  # no false positive counted
    assert ours["cats_micro_p"] == 1.0
    spacy_scores = spacy.scorer.Scorer.score_cats(egs, "cats", labels=LABELS, multi_label=False)
    assert spacy_scores["cats_micro_p"] < 1.0  # spaCy counts the NER doc as a false positive


def test_multilabel_option_and_missing_labels():
    nlp, textcat = make_nlp("beto_textcat", multi_label=True)
    doc = nlp.make_doc("Me alegra y me entristece a la vez.")
    doc.cats = {"joy": 1.0, "sadness": 1.0}  # "others" missing
    egs = [Example(nlp.make_doc(doc.text), doc)]
    for label in LABELS:
        textcat.add_label(label)
    nlp.initialize(lambda: egs)
    scores = textcat.model.predict([eg.predicted for eg in egs])
    _, d_scores = textcat.get_loss(egs, scores)
    d = numpy.asarray(d_scores)[0]
    col = list(textcat.labels).index("others")
    assert d[col] == 0 and numpy.abs(d).sum() > 0


def test_multilabel_mismatch_is_a_clear_error():
    nlp = spacy.blank("es")
    with pytest.raises(BetoConfigError, match="exclusive_classes = false"):
        nlp.add_pipe("beto_textcat", config={"multi_label": True})


def test_class_weighting_upweights_rare_classes():
    from spacy_beto.components.textcat import inverse_frequency_weights

    counts = {"others": 80, "joy": 15, "fear": 5}
    balanced = inverse_frequency_weights(counts, mode="balanced")
    assert balanced["fear"] / balanced["others"] == pytest.approx(16.0)
    total = sum(balanced[k] * n for k, n in counts.items()) / sum(counts.values())
    assert total == pytest.approx(1.0)
    sqrt = inverse_frequency_weights(counts, mode="sqrt")
    assert sqrt["fear"] / sqrt["others"] == pytest.approx(4.0)
    assert inverse_frequency_weights(counts, mode="none") == {}


def test_class_weighting_scales_gradients_and_serializes(tmp_path):
    nlp, textcat = make_nlp("beto_textcat", class_weighting="balanced")
    docs = []
    for text, label in [("uno", "joy"), ("dos", "joy"), ("tres", "joy"), ("cuatro", "sadness")]:
        doc = nlp.make_doc(text)
        doc.cats = {lab: float(lab == label) for lab in ("joy", "sadness")}
        docs.append(Example(nlp.make_doc(text), doc))
    nlp.initialize(lambda: docs)
    weights = textcat.cfg["class_weights"]
    assert weights["sadness"] == pytest.approx(3 * weights["joy"])
    scores = textcat.model.predict([eg.predicted for eg in docs])
    _, d_weighted = textcat.get_loss(docs, scores)
    textcat.cfg["class_weights"] = {}
    _, d_plain = textcat.get_loss(docs, scores)
    ratio = numpy.asarray(d_weighted) / numpy.asarray(d_plain)
    assert ratio[3, 0] == pytest.approx(weights["sadness"])
    assert ratio[0, 0] == pytest.approx(weights["joy"])
    textcat.cfg["class_weights"] = weights
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p").get_pipe("beto_textcat")
    assert loaded.cfg["class_weights"] == pytest.approx(weights)


def test_bad_class_weighting_is_a_clear_error():
    with pytest.raises(BetoConfigError, match="class_weighting = 'inverse'"):
        make_nlp("beto_textcat", class_weighting="inverse")


def test_scorer_prefix():
    from spacy_beto.scoring import make_textcat_scorer

    assert make_textcat_scorer() is score_cats_with_missing
    nlp = spacy.blank("es")
    gold = nlp.make_doc("Qué asco de gente")
    gold.cats = {"OFF": 1.0, "NO": 0.0}
    pred = nlp.make_doc(gold.text)
    pred.cats = {"OFF": 0.8, "NO": 0.2, "joy": 0.9}  # another classifier's category
    egs = [Example(pred, gold)]
    scores = make_textcat_scorer(prefix="offensive")(egs, labels=["NO", "OFF"])
    assert scores["offensive_f_per_type"]["OFF"]["f"] == 1.0
    assert scores["offensive_score"] == 0.5 and not any(k.startswith("cats_") for k in scores)
    default = make_textcat_scorer()(egs, labels=["NO", "OFF"])
    assert {k.replace("cats_", "offensive_"): v for k, v in default.items()} == scores
    with pytest.raises(BetoConfigError, match="prefix = 'offensive score'"):
        make_textcat_scorer(prefix="offensive score")
