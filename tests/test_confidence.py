"""Entity and category confidence: scores, calibration and its round trips, report, select."""

import json
import pickle

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from typer.testing import CliRunner

from spacy_beto.calibration import (
    apply_calibration,
    check_calibration,
    fit_platt,
    fit_temperature,
    invert_calibration,
)
from spacy_beto.cli import app
from spacy_beto.corpus.convert import CONLL_LABELS, EMOTION_LABELS, ner_doc, textcat_doc
from spacy_beto.errors import BetoConfigError
from spacy_beto.evaluation.confidence import auroc, coverage_table, expected_calibration_error


def text(result):
    """The CLI output with its line wrapping undone."""
    return " ".join(result.output.split())


SCORES_ON = {"components": {"ner": {"entity_scores": True}}}


def texts_of(records, n=12):
    return [r["text"] for r in records[:n]]


def outputs(docs):
    """Entities, entity scores, candidate spans and categories of each doc."""
    out = []
    for doc in docs:
        group = doc.spans.get("ents_scored")
        cand = doc.spans.get("ents_candidates")
        out.append(
            {
                "ents": [(e.start_char, e.end_char, e.label_) for e in doc.ents],
                "scores": None if group is None else [float(s) for s in group.attrs["scores"]],
                "cands": None if cand is None else [(s.start, s.end, s.label_) for s in cand],
                "cats": dict(doc.cats),
            }
        )
    return out


def assert_close(a, b, atol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x["ents"] == y["ents"] and x["cands"] == y["cands"]
        if x["scores"] is None or y["scores"] is None:
            assert x["scores"] == y["scores"]
        else:
            numpy.testing.assert_allclose(x["scores"], y["scores"], atol=atol)
        assert x["cats"].keys() == y["cats"].keys()
        for k in x["cats"]:
            assert abs(x["cats"][k] - y["cats"][k]) < atol


def dev_examples(nlp, ner_records, emotion_records):
    examples = []
    for i, rec in enumerate(ner_records[:20]):
        examples.append(
            Example(nlp.make_doc(rec["text"]), ner_doc(nlp, rec, f"n{i}", CONLL_LABELS))
        )
    for i, rec in enumerate(emotion_records[:20]):
        ref = textcat_doc(nlp, rec, f"e{i}", EMOTION_LABELS)
        examples.append(Example(nlp.make_doc(rec["text"]), ref))
    return examples


@pytest.fixture(scope="module")
def calibrated_dir(saved_pipeline, ner_records, emotion_records, tmp_path_factory):
    """The saved pipeline calibrated on 40 training documents (a test of mechanics, not of
    calibration quality), saved to disk."""
    from spacy_beto.evaluation.confidence import calibrate_pipeline

    nlp = spacy.load(saved_pipeline, config=SCORES_ON)
    fitted = calibrate_pipeline(nlp, dev_examples(nlp, ner_records, emotion_records))
    assert set(fitted) == {"ner", "textcat"}
    path = tmp_path_factory.mktemp("calibrated") / "nlp"
    nlp.to_disk(path)
    return path


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_every_entity_has_a_score_and_entities_are_the_greedy_ones(
    saved_pipeline, ner_records, method
):
    config = {"components": {"ner": {"entity_scores": True, "score_method": method}}}
    nlp = spacy.load(saved_pipeline, config=config)
    texts = texts_of(ner_records)
    docs = list(nlp.pipe(texts))
    n_ents = 0
    for doc in docs:
        group = doc.spans["ents_scored"]
        assert [(s.start, s.end, s.label_) for s in group] == [
            (e.start, e.end, e.label_) for e in doc.ents
        ]
        scores = group.attrs["scores"]
        assert len(scores) == len(doc.ents) and numpy.all((scores >= 0) & (scores <= 1))
        for ent, score in zip(doc.ents, scores):
            assert ent._.score == pytest.approx(float(score))
            n_ents += 1
        chosen = {(e.start, e.end, e.label_) for e in doc.ents}
        cand = doc.spans["ents_candidates"]
        assert not chosen & {(s.start, s.end, s.label_) for s in cand}
        assert numpy.all(cand.attrs["raw_scores"] >= 0.1)
    assert n_ents > 0
    greedy = spacy.load(saved_pipeline)  # entity_scores is off by default
    plain = list(greedy.pipe(texts))
    assert [o["ents"] for o in outputs(plain)] == [o["ents"] for o in outputs(docs)]
    assert all("ents_scored" not in doc.spans for doc in plain)
    assert all(ent._.score is None for doc in plain for ent in doc.ents)


def test_scores_do_not_depend_on_the_batch(calibrated_dir, ner_records, emotion_records):
    nlp = spacy.load(calibrated_dir)
    texts = texts_of(ner_records, 10) + texts_of(emotion_records, 10)
    one = outputs(nlp.pipe(texts, batch_size=1))
    assert_close(outputs(nlp.pipe(texts, batch_size=64)), one)
    assert_close(outputs(nlp.pipe(texts[::-1], batch_size=7))[::-1], one)


def test_calibration_round_trips(calibrated_dir, ner_records, emotion_records, tmp_path):
    nlp = spacy.load(calibrated_dir)
    cals = {name: nlp.get_pipe(name).cfg["calibration"] for name in ("ner", "textcat")}
    assert cals["ner"]["method"] == "platt" and cals["textcat"]["method"] == "temperature"
    texts = texts_of(ner_records, 6) + texts_of(emotion_records, 6)
    expected = outputs(nlp.pipe(texts))
    copies = {
        "bytes": spacy.blank("es").from_config(nlp.config).from_bytes(nlp.to_bytes()),
        "pickle": pickle.loads(pickle.dumps(nlp)),
    }
    nlp.to_disk(tmp_path / "again")
    copies["disk"] = spacy.load(tmp_path / "again")
    for how, other in copies.items():
        for name, cal in cals.items():
            # srsly's JSON parser can be 1 ulp off (json_loads("-2.5155023767") gives
            # -2.515502376699999): the parameters survive to float precision, not bit for bit
            again = other.get_pipe(name).cfg["calibration"]
            assert set(again) == set(cal), how
            for key, value in cal.items():
                expected_value = (
                    value if isinstance(value, str) else pytest.approx(value, rel=1e-12)
                )
                assert again[key] == expected_value, (how, key)
        assert_close(outputs(other.pipe(texts)), expected)
    raw = spacy.load(calibrated_dir)
    for name in cals:
        raw.get_pipe(name).set_calibration(None)
    differs = outputs(raw.pipe(texts))
    # Calibration changes the scores, never the entities or the best category.
    assert [o["ents"] for o in differs] == [o["ents"] for o in expected]
    for a, b in zip(differs, expected):
        assert max(a["cats"], key=a["cats"].get) == max(b["cats"], key=b["cats"].get)
    assert any(a["cats"] != b["cats"] for a, b in zip(differs, expected))


def test_bad_settings_are_clear_errors(saved_pipeline):

    for setting, value, message in (
        ("score_method", "magic", "is not one of greedy, beam"),
        ("score_beam_width", 1, "give at least 2"),
        ("candidate_threshold", 0.0, r"must be in \(0, 1\]"),
    ):
        with pytest.raises(BetoConfigError, match=message):
            spacy.load(saved_pipeline, config={"components": {"ner": {setting: value}}})
    nlp = spacy.load(saved_pipeline)
    with pytest.raises(BetoConfigError, match="calibration .* is not valid"):
        nlp.get_pipe("textcat").set_calibration({"method": "temperature", "t": -1})


def test_platt_and_temperature_fix_overconfident_scores():
    rng = numpy.random.RandomState(0)
    true_p = rng.uniform(0.3, 1.0, 4000)
    correct = rng.uniform(size=4000) < true_p
    overconfident = 1 / (1 + numpy.exp(-4 * numpy.log(true_p / (1 - true_p + 1e-9) + 1e-9)))
    cal = fit_platt(overconfident, correct)
    after = apply_calibration(cal, overconfident)
    assert expected_calibration_error(after, correct) < 0.03
    assert expected_calibration_error(overconfident, correct) > 0.08
    numpy.testing.assert_allclose(invert_calibration(cal, after), overconfident, atol=1e-4)
    # Exclusive classes: logits scaled by 3 are overconfident; T comes out near 3.
    logits = rng.normal(size=(3000, 4))
    p = numpy.exp(logits) / numpy.exp(logits).sum(1, keepdims=True)
    gold = numpy.array([rng.choice(4, p=row) for row in p])
    sharp = numpy.exp(3 * logits) / numpy.exp(3 * logits).sum(1, keepdims=True)
    cal = fit_temperature(sharp, gold)
    assert 2.5 < cal["t"] < 3.5
    fixed = apply_calibration(cal, sharp)
    assert (fixed.argmax(1) == sharp.argmax(1)).all()
    numpy.testing.assert_allclose(fixed.sum(1), 1.0, atol=1e-6)
    top_ok = fixed.argmax(1) == gold
    assert expected_calibration_error(fixed.max(1), top_ok) < expected_calibration_error(
        sharp.max(1), top_ok
    )


def test_confidence_metrics_on_known_values():
    assert auroc([0.9, 0.8, 0.3, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert numpy.isnan(auroc([0.5, 0.7], [True, True]))
    assert expected_calibration_error([0.95] * 10, [True] * 9 + [False]) == pytest.approx(0.05)
    table = coverage_table([0.95, 0.75, 0.55, 0.2], [True, False, True, False])
    assert table["0.9"] == {"coverage": 0.25, "n": 1, "precision": 1.0}
    assert table["0.5"]["precision"] == pytest.approx(2 / 3)


def write_dev(nlp, path, ner_records, emotion_records):
    docs = [ner_doc(nlp, r, "n", CONLL_LABELS) for r in ner_records[:10]]
    docs += [textcat_doc(nlp, r, "e", EMOTION_LABELS) for r in emotion_records[:10]]
    DocBin(docs=docs).to_disk(path)
    return path


def test_calibrate_cli(saved_pipeline, ner_records, emotion_records, tmp_path):
    dev = write_dev(spacy.blank("es"), tmp_path / "dev.spacy", ner_records, emotion_records)
    out = tmp_path / "cal"
    result = CliRunner().invoke(app, ["calibrate", str(saved_pipeline), str(dev), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "ECE on DEV" in text(result)
    nlp = spacy.load(out)
    assert nlp.get_pipe("ner").entity_scores  # turned on in the saved config
    assert nlp.get_pipe("ner").cfg["calibration"]["method"] == "platt"
    assert nlp.get_pipe("textcat").cfg["calibration"]["method"] == "temperature"


def test_calibrate_cli_bad_input(saved_pipeline, tmp_path):
    run = CliRunner().invoke
    result = run(app, ["calibrate", str(saved_pipeline), str(tmp_path / "no.spacy"), "-o", "x"])
    assert result.exit_code == 1 and "no such file" in text(result)
    DocBin().to_disk(tmp_path / "empty.spacy")
    result = run(app, ["calibrate", str(saved_pipeline), str(tmp_path / "empty.spacy"), "-o", "x"])
    assert result.exit_code == 1 and "no documents" in text(result)
    nlp = spacy.blank("es")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "nohead")
    docs = [nlp.make_doc("Hola mundo.")]
    DocBin(docs=docs).to_disk(tmp_path / "one.spacy")
    result = run(
        app, ["calibrate", str(tmp_path / "nohead"), str(tmp_path / "one.spacy"), "-o", "x"]
    )
    assert result.exit_code == 1 and "no component to calibrate" in text(result)
    # textcat gold missing from the set: the head names what it needs
    result = run(app, ["calibrate", str(saved_pipeline), str(tmp_path / "one.spacy"), "-o", "x"])
    assert result.exit_code == 1 and "to calibrate on" in text(result)


def test_report_shows_confidence(calibrated_dir, ner_records, emotion_records, tmp_path):
    dev = write_dev(spacy.blank("es"), tmp_path / "dev.spacy", ner_records, emotion_records)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(calibrated_dir), str(dev), "-o", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    for prefix in ("ents", "cats"):
        assert 0.0 <= metrics[f"{prefix}_ece"] <= 1.0
        assert 0.0 <= metrics[f"{prefix}_ece_uncalibrated"] <= 1.0
        conf = metrics[f"{prefix}_confidence"]
        assert set(conf["coverage"]) == {"0.5", "0.7", "0.9"}
        assert sum(b["n"] for b in conf["reliability"]) == conf["n"]
    assert metrics["cats_confidence"]["n"] == 10  # the emotion documents only
    report = (out / "report.md").read_text()
    assert report.count("### Confidence:") == 2 and "| score >= |" in report
    html = (out / "predictions.html").read_text()
    assert html.count("<svg") == 2
    from spacy_beto.cli.model_card import build_card

    card = build_card(metrics, {}, "mini")
    assert "ents_ece" in card["performance"] and "ents_auroc" in card["performance"]
    assert "ents_confidence" not in card["performance"] and "AUROC" in card["notes"]


def test_annotate_records_carry_scores(calibrated_dir, ner_records):
    from spacy_beto.annotate import annotate_stream

    items = [(i + 1, t, None) for i, t in enumerate(texts_of(ner_records, 5))]
    records = list(annotate_stream(calibrated_dir, items))
    ents = [e for r in records for e in r["ents"]]
    assert ents and all(0.0 <= e["score"] <= 1.0 for e in ents)


def test_select_cli(calibrated_dir, ner_records, emotion_records, tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [{"text": t, "id": i} for i, t in enumerate(texts_of(ner_records, 15))]
    lines += [{"text": t, "id": 100 + i} for i, t in enumerate(texts_of(emotion_records, 15))]
    src.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    for strategy in ("min", "entities", "categories"):
        out = tmp_path / f"{strategy}.jsonl"
        args = ["select", str(calibrated_dir), str(src), "--n", "7", "-o", str(out)]
        result = CliRunner().invoke(app, args + ["--strategy", strategy, "--no-progress"])
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(records) == 7
        scores = [r["meta"]["score"] for r in records]
        assert scores == sorted(scores) and all(0.0 <= s <= 1.0 for s in scores)
        for rec in records:
            assert {"text", "spans", "cats", "meta", "id"} <= set(rec)
            for span in rec["spans"]:
                assert rec["text"][span["start"] : span["end"]] == span["text"]
    # The selection is the least confident: no unselected document scores lower.
    from spacy_beto.heads import pipeline_heads
    from spacy_beto.selection import doc_confidence

    nlp = spacy.load(calibrated_dir)
    heads = pipeline_heads(nlp)
    all_scores = sorted(doc_confidence(d, heads) for d in nlp.pipe(x["text"] for x in lines))
    picked = [json.loads(x)["meta"]["score"] for x in (tmp_path / "min.jsonl").open()]
    numpy.testing.assert_allclose(picked, all_scores[:7], atol=1e-5)


def test_select_cli_bad_input(saved_pipeline, tmp_path):
    run = CliRunner().invoke
    out = str(tmp_path / "o.jsonl")
    result = run(app, ["select", str(saved_pipeline), str(tmp_path / "none.txt"), "-o", out])
    assert result.exit_code == 1 and "input file not found" in text(result)
    (tmp_path / "empty.txt").write_text("\n\n")
    result = run(app, ["select", str(saved_pipeline), str(tmp_path / "empty.txt"), "-o", out])
    assert result.exit_code == 1 and "no text lines" in text(result)
    (tmp_path / "bad.jsonl").write_text('{"text": "Hola"}\n{"txt": 1}\n')
    result = run(app, ["select", str(saved_pipeline), str(tmp_path / "bad.jsonl"), "-o", out])
    assert result.exit_code == 1 and "bad.jsonl:2" in text(result)
    result = run(
        app, ["select", str(saved_pipeline), str(tmp_path / "bad.jsonl"), "-o", out,
              "--skip-invalid", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0 and "Skipped 1" in text(result)
    nlp = spacy.blank("es")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "nohead")
    result = run(app, ["select", str(tmp_path / "nohead"), str(tmp_path / "bad.jsonl"), "-o", out])
    assert result.exit_code == 1 and "no head to score documents" in text(result)
    result = run(
        app, ["select", str(saved_pipeline), str(tmp_path / "bad.jsonl"), "-o", out,
              "--strategy", "random"],
    )  # fmt: skip
    assert result.exit_code == 1 and "is not one of" in text(result)


def test_load_pipeline_turns_entity_scores_on_in_one_load(saved_pipeline, monkeypatch):
    """calibrate/select load a pipeline whose entity scores are off with them on, in one
    spacy.load (the config is read first), and in nlp.config too."""
    from spacy_beto.annotate import load_pipeline

    calls = []
    real_load = spacy.load
    monkeypatch.setattr(spacy, "load", lambda *a, **kw: calls.append(a) or real_load(*a, **kw))
    assert spacy.load(saved_pipeline).get_pipe("ner").entity_scores is False
    calls.clear()
    nlp = load_pipeline(saved_pipeline, entity_scores=True)
    assert len(calls) == 1
    assert nlp.get_pipe("ner").entity_scores is True
    assert nlp.config["components"]["ner"]["entity_scores"] is True


def test_pipeline_config_of_an_installed_package(saved_pipeline, tmp_path, monkeypatch):
    """An installed package keeps its pipeline in `{lang}_{name}-{version}/` next to meta.json
    (the layout `spacy package` writes): its config is found there."""
    import shutil

    import spacy.util

    from spacy_beto.annotate import pipeline_config

    meta = json.loads((saved_pipeline / "meta.json").read_text(encoding="utf8"))
    package = tmp_path / "es_fake_pkg"
    shutil.copytree(saved_pipeline, package / f"{meta['lang']}_{meta['name']}-{meta['version']}")
    shutil.copy(saved_pipeline / "meta.json", package / "meta.json")
    monkeypatch.setattr(spacy.util, "get_package_path", lambda name: package)
    config = pipeline_config("es_fake_pkg")
    assert config["components"]["ner"]["entity_scores"] is False
    # (older confection versions sort the sections: compare the names, not their order)
    assert set(config["components"]) == set(spacy.load(saved_pipeline).pipe_names)


def test_ece_uncertainty_tells_noise_from_miscalibration():
    from spacy_beto.evaluation.confidence import _ece_rows, ece_uncertainty

    rng = numpy.random.default_rng(3)
    s = rng.beta(8, 6.5, 422)  # top-class probabilities of a 7-class classifier, roughly
    calibrated = rng.random(422) < s
    idx = numpy.minimum((s * 10).astype("i8"), 9)
    row = _ece_rows(idx[None], s[None], calibrated[None].astype("f8"), 10)[0]
    assert row == pytest.approx(expected_calibration_error(s, calibrated))
    u = ece_uncertainty(s, calibrated)
    assert u == ece_uncertainty(s, calibrated)  # seeded
    lo, hi = u["interval"]
    assert 0.0 < lo < hi < 0.2
    # A perfectly calibrated model shows an ECE of several points on 422 predictions...
    assert 0.03 < u["noise_mean"] < u["noise_p95"] < 0.09
    assert expected_calibration_error(s, calibrated) < u["noise_p95"]
    # ...far less on 10x as many; an overconfident one is well above the noise.
    big = rng.beta(8, 6.5, 4220)
    assert ece_uncertainty(big, rng.random(4220) < big)["noise_mean"] < u["noise_mean"] / 2
    sharp = numpy.clip(s + 0.15, 0, 1)
    assert (
        expected_calibration_error(sharp, calibrated)
        > ece_uncertainty(sharp, calibrated)["noise_p95"]
    )
    assert ece_uncertainty([], []) == {}


def test_entity_features_learn_what_the_score_does_not_say():
    """Entities seen in training are right far more often than their score says: the
    entity_features map learns it, separates right from wrong better than the score (AUROC) and
    stays calibrated; without a lexicon it is Platt with an offset per label."""
    from spacy_beto.calibration import apply_entity_features, entity_lexicon, fit_entity_features

    rng = numpy.random.RandomState(0)
    n = 4000
    labels = rng.choice(["PER", "ORG"], n).tolist()
    texts = [f"E{i}" for i in range(n)]
    seen = rng.uniform(size=n) < 0.5
    p_right = numpy.where(seen, 0.9, 0.45)
    correct = rng.uniform(size=n) < p_right
    raw = numpy.clip(0.65 + 0.15 * correct + rng.normal(0, 0.15, n), 0.01, 0.99)
    lexicon = entity_lexicon(
        [(t, lab) for t, lab, s in zip(texts, labels, seen) if s] + [("E0", "LOC")]
    )
    assert lexicon["E0"] == sorted({"LOC", labels[0]} if seen[0] else {"LOC"})
    half = numpy.arange(n) < n // 2
    fit = fit_entity_features(
        raw[half],
        correct[half],
        [lab for lab, h in zip(labels, half) if h],
        [t for t, h in zip(texts, half) if h],
        lexicon,
    )
    assert fit["method"] == "entity_features" and fit["seen_same"] > 1.0
    held = ~half
    after = apply_entity_features(
        fit,
        raw[held],
        [lab for lab, h in zip(labels, held) if h],
        [t for t, h in zip(texts, held) if h],
    )
    assert auroc(after, correct[held]) > auroc(raw[held], correct[held]) + 0.05
    assert expected_calibration_error(after, correct[held]) < 0.05
    plain = fit_entity_features(raw, correct, labels, texts, None)
    assert plain["seen_same"] == plain["seen_other"] == 0.0 and plain["lexicon"] == {}
    assert set(plain["b"]) == {"PER", "ORG"}
    unknown = apply_entity_features(plain, [0.7], ["MISC"], ["x"])  # a label never fitted
    assert 0.0 < float(unknown[0]) < 1.0
    with pytest.raises(ValueError, match="not invertible"):
        invert_calibration(plain, [0.5])
    check_calibration(plain, component="ner")
    with pytest.raises(BetoConfigError, match="is not valid"):
        check_calibration({"method": "entity_features", "a": 1.0}, component="ner")


def test_entity_score_is_found_in_long_and_reordered_groups():
    from spacy.tokens import Span, SpanGroup

    from spacy_beto.components.entity_scores import publish_entity_scores

    nlp = spacy.blank("es")
    doc = nlp(" ".join(f"w{i}" for i in range(600)))
    ents = [Span(doc, i, i + 1 + i % 2, label="PER" if i % 3 else "LOC") for i in range(0, 600, 3)]
    doc.ents = ents
    raw = numpy.linspace(0.05, 0.95, len(ents))
    publish_entity_scores(doc, list(doc.ents), raw, [], [], None)
    assert [ent._.score for ent in doc.ents] == pytest.approx(raw.tolist())
    # Same boundaries, other label; boundaries not scored: no score.
    assert Span(doc, 0, 1, label="ORG")._.score is None
    assert Span(doc, 1, 2, label="PER")._.score is None
    # A group reordered by hand is still read correctly.
    group = doc.spans["ents_scored"]
    order = numpy.random.default_rng(0).permutation(len(group))
    shuffled = SpanGroup(doc, name="ents_scored", spans=[group[int(i)] for i in order])
    shuffled.attrs["scores"] = group.attrs["scores"][order]
    doc.spans["ents_scored"] = shuffled
    assert [ent._.score for ent in doc.ents] == pytest.approx(raw.tolist())
