"""Per-class decision thresholds of multi-label text classifiers, tuned for a target precision."""

import pickle
import random

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from thinc.api import Adam
from typer.testing import CliRunner

from spacy_beto import BetoConfigError
from spacy_beto.calibration import tune_threshold
from spacy_beto.cli import app
from spacy_beto.evaluation.confidence import threshold_targets, tune_pipeline_thresholds
from spacy_beto.scoring import score_cats_with_missing

LABELS = ["rojo", "azul", "verde"]
WORDS = {"rojo": "rojo", "azul": "azul", "verde": "verde"}
FILLER = ["la", "casa", "es", "muy", "bonita", "y", "grande", "el", "coche", "nuevo"]


def text(result):
    return " ".join(result.output.split())


def precision_at(scores, gold, t):
    kept = numpy.asarray(scores) >= t
    return numpy.asarray(gold)[kept].mean()


def test_tune_threshold_is_the_lowest_reaching_the_target():
    rng = numpy.random.default_rng(0)
    gold = rng.random(400) < 0.4
    scores = numpy.clip(0.35 * gold + rng.normal(0.35, 0.2, 400), 0.0, 1.0)
    fit = tune_threshold(scores, gold, 0.9)
    assert fit is not None and fit["precision"] >= 0.9
    assert precision_at(scores, gold, fit["threshold"]) == pytest.approx(fit["precision"])
    assert fit["kept"] == int((scores >= fit["threshold"]).sum())
    lower = numpy.unique(scores[scores < fit["threshold"]])
    assert all(precision_at(scores, gold, t) < 0.9 for t in lower)  # none lower reaches it
    assert fit["recall"] == pytest.approx(gold[scores >= fit["threshold"]].sum() / gold.sum())
    # a higher target keeps fewer
    strict = tune_threshold(scores, gold, 0.97)
    assert strict is None or strict["threshold"] >= fit["threshold"]
    # unreachable: every score equal, 40 % positive; no positive at all
    assert tune_threshold(numpy.full(10, 0.5), [True] * 4 + [False] * 6, 0.9) is None
    assert tune_threshold([0.9, 0.8], [False, False], 0.5) is None
    with pytest.raises(ValueError):
        tune_threshold([0.5], [True], 0.0)


def make_doc_text(rng, labels):
    words = rng.sample(FILLER, 4) + [WORDS[label] for label in labels]
    rng.shuffle(words)
    return " ".join(words)


def labelled_docs(nlp, n, seed):
    """Documents with a random subset of LABELS (the colour words in the text); 'verde' is
    noisy: half its documents do not mention it."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        labels = [label for label in LABELS if rng.random() < 0.4]
        shown = [lab for lab in labels if lab != "verde" or rng.random() < 0.5]
        doc = nlp.make_doc(make_doc_text(rng, shown))
        doc.cats = {label: float(label in labels) for label in LABELS}
        docs.append(doc)
    return docs


def multilabel_nlp(*, multi_label=True):
    nlp = spacy.blank("es")
    nlp.add_pipe(
        "beto_textcat",
        config={
            "model": {
                "@architectures": "spacy.TextCatBOW.v3",
                "exclusive_classes": not multi_label,
                "ngram_size": 1,
                "no_output_layer": False,
            },
            "multi_label": multi_label,
        },
    )
    return nlp


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """A small multi-label beto_textcat (bag of words) trained on the colour task, saved."""
    nlp = multilabel_nlp()
    train = [Example(nlp.make_doc(d.text), d) for d in labelled_docs(nlp, 120, seed=1)]
    nlp.initialize(lambda: train)
    nlp.resume_training()
    optimizer = Adam(0.05)
    for _ in range(5):
        for i in range(0, len(train), 8):
            nlp.update(train[i : i + 8], sgd=optimizer, drop=0.0)
    path = tmp_path_factory.mktemp("multilabel") / "nlp"
    nlp.to_disk(path)
    return path


def dev_examples(nlp, n=150, seed=2):
    return [Example(nlp.make_doc(d.text), d) for d in labelled_docs(nlp, n, seed=seed)]


def test_fit_thresholds_reaches_the_target_and_sets_the_decisions(trained_dir):
    from spacy_beto.evaluation.confidence import calibrate_pipeline

    nlp = spacy.load(trained_dir)
    textcat = nlp.get_pipe("beto_textcat")
    examples = dev_examples(nlp)
    calibrate_pipeline(nlp, examples)
    result = tune_pipeline_thresholds(nlp, examples, target_precision=0.9)["beto_textcat"]
    assert set(result["thresholds"]) | set(result["unreached"]) == set(LABELS)
    assert not set(result["thresholds"]) & set(result["unreached"])
    assert textcat.cfg["thresholds"] == result["thresholds"]
    assert {"rojo", "azul"} <= set(result["thresholds"])  # the clean classes reach it
    # What spacy.load'ed docs hold: calibrated cats; precision at the tuned thresholds >= 0.9.
    docs = list(nlp.pipe(eg.reference.text for eg in examples))
    for label, t in result["thresholds"].items():
        scores = [doc.cats[label] for doc in docs]
        gold = [eg.reference.cats[label] == 1.0 for eg in examples]
        assert precision_at(scores, gold, t) >= 0.9
        assert result["tuned"][label]["precision"] >= 0.9
    decisions = textcat.decision_thresholds()
    for doc in docs:
        expected = [lab for lab in textcat.labels if doc.cats[lab] >= decisions[lab]]
        assert doc._.cats_over_threshold == expected
    # The component's scores use the same decisions (P/R/F), AUC unchanged.
    for eg, doc in zip(examples, docs):
        eg.predicted = doc
    tuned = textcat.score(examples)
    plain = score_cats_with_missing(examples, labels=textcat.labels, multi_label=True)
    for label, t in result["thresholds"].items():
        gold = numpy.asarray([eg.reference.cats[label] for eg in examples]) == 1.0
        pred = numpy.asarray([d.cats[label] >= t for d in docs])
        p = (gold & pred).sum() / pred.sum()
        assert tuned["cats_f_per_type"][label]["p"] == pytest.approx(p)
    assert tuned["cats_macro_auc"] == pytest.approx(plain["cats_macro_auc"])


def test_unreached_class_keeps_the_default_with_a_warning(trained_dir):
    nlp = spacy.load(trained_dir)
    textcat = nlp.get_pipe("beto_textcat")
    examples = dev_examples(nlp, n=40)
    for eg in examples:  # verde: the highest score is always a wrong one
        gold = eg.reference.cats["verde"] == 1.0
        eg.predicted.cats = {"rojo": eg.reference.cats["rojo"], "azul": 0.3, "verde": 0.9}
        if not gold:
            eg.predicted.cats["verde"] = 0.95
    with pytest.warns(UserWarning, match="no threshold reaches precision 0.8 for azul, verde"):
        result = textcat.fit_thresholds(examples, target_precision=0.8)
    assert result["unreached"] == ["azul", "verde"]
    assert textcat.cfg["thresholds"] == {"rojo": 1.0}
    assert textcat.decision_thresholds() == {"rojo": 1.0, "azul": 0.5, "verde": 0.5}


def test_thresholds_round_trip(trained_dir, tmp_path):
    nlp = spacy.load(trained_dir)
    thresholds = {"rojo": 0.61, "azul": 0.33}
    nlp.get_pipe("beto_textcat").set_thresholds(thresholds)
    texts = ["la casa rojo azul", "el coche verde", "muy grande"]
    expected = [doc._.cats_over_threshold for doc in nlp.pipe(texts)]
    assert "rojo" in expected[0] and "rojo" not in expected[1]
    nlp.to_disk(tmp_path / "nlp")
    copies = {
        "disk": spacy.load(tmp_path / "nlp"),
        "bytes": multilabel_nlp().from_bytes(nlp.to_bytes()),
        "pickle": pickle.loads(pickle.dumps(nlp)),
    }
    for how, other in copies.items():
        assert other.get_pipe("beto_textcat").thresholds == thresholds, how
        assert [doc._.cats_over_threshold for doc in other.pipe(texts)] == expected, how
    # the docs carry them too (msgpack gives tuples back)
    docs = list(nlp.pipe(texts))
    back = list(DocBin(docs=docs, store_user_data=True).get_docs(nlp.vocab))
    assert [list(d._.cats_over_threshold) for d in back] == expected


def test_bad_thresholds_and_exclusive_heads_are_clear_errors(trained_dir, tmp_path):
    nlp = spacy.load(trained_dir)
    textcat = nlp.get_pipe("beto_textcat")
    with pytest.raises(BetoConfigError, match="unknown labels"):
        textcat.set_thresholds({"amarillo": 0.5})
    with pytest.raises(BetoConfigError, match="not valid"):
        textcat.set_thresholds({"rojo": 1.5})
    with pytest.raises(BetoConfigError, match="must be in"):
        textcat.fit_thresholds([], target_precision=1.2)
    exclusive = multilabel_nlp(multi_label=False)
    docs = labelled_docs(exclusive, 4, seed=3)
    for doc in docs:  # one class each
        doc.cats = {label: float(i == 0) for i, label in enumerate(LABELS)}
    exclusive.initialize(lambda: [Example(exclusive.make_doc(d.text), d) for d in docs])
    pipe = exclusive.get_pipe("beto_textcat")
    with pytest.raises(BetoConfigError, match="'beto_textcat' has exclusive classes.*multi_label"):
        pipe.fit_thresholds([], target_precision=0.9)
    with pytest.raises(BetoConfigError, match="exclusive classes"):
        pipe.set_thresholds({"rojo": 0.5})
    with pytest.raises(BetoConfigError, match=r"exclusive classes only \('beto_textcat'\)"):
        threshold_targets(exclusive)
    exclusive.to_disk(tmp_path / "exclusive")
    DocBin(docs=docs).to_disk(tmp_path / "dev.spacy")
    args = ["calibrate", str(tmp_path / "exclusive"), str(tmp_path / "dev.spacy"), "-o"]
    result = CliRunner().invoke(app, args + [str(tmp_path / "out"), "--target-precision", "0.9"])
    assert result.exit_code == 1
    assert "exclusive classes only ('beto_textcat')" in text(result)
    assert "multi_label = true" in text(result)
    assert not (tmp_path / "out").exists()


def test_calibrate_cli_tunes_thresholds(trained_dir, tmp_path):
    nlp = spacy.load(trained_dir)
    docs = [eg.reference for eg in dev_examples(nlp)]
    DocBin(docs=docs).to_disk(tmp_path / "dev.spacy")
    out = tmp_path / "cal"
    args = ["calibrate", str(trained_dir), str(tmp_path / "dev.spacy"), "-o", str(out)]
    result = CliRunner().invoke(app, args + ["--target-precision", "0.9"])
    assert result.exit_code == 0, result.output
    assert "rojo threshold" in text(result)
    tuned = spacy.load(out).get_pipe("beto_textcat")
    assert tuned.cfg["calibration"]["method"] == "platt"
    assert tuned.thresholds and set(tuned.thresholds) <= {"rojo", "azul", "verde"}
    # Recalibrating without the option clears the thresholds tuned on the old calibration.
    again = ["calibrate", str(out), str(tmp_path / "dev.spacy"), "-o", str(tmp_path / "again")]
    result = CliRunner().invoke(app, again)
    assert result.exit_code == 0, result.output
    assert spacy.load(tmp_path / "again").get_pipe("beto_textcat").thresholds is None
    result = CliRunner().invoke(app, args + ["--target-precision", "0"])
    assert result.exit_code == 1 and "must be in (0, 1]" in text(result)
