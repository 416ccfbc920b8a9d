"""beto_token_ner: BILUO token classification, its vectorised decoder, scores and calibration."""

import itertools
import json
import logging
import pickle

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from typer.testing import CliRunner

from spacy_beto.cli import app
from spacy_beto.components import biluo
from spacy_beto.corpus.convert import CONLL_LABELS, EMOTION_LABELS, ner_doc, textcat_doc
from spacy_beto.errors import BetoConfigError

from .conftest import make_examples, train

N_TRAIN = 8


def build(model_dir, **ner_config):
    nlp = spacy.blank("es")
    nlp.add_pipe("beto_transformer", name="transformer", config={"model": {"name": str(model_dir)}})
    nlp.add_pipe("beto_token_ner", name="ner", config=ner_config)
    nlp.add_pipe("doc_cleaner")
    return nlp


@pytest.fixture(scope="module")
def trained(tiny_model_dir, ner_records):
    """transformer + beto_token_ner trained (seeded) on N_TRAIN NER documents until it fits
    them, with the loss of each epoch. Never changed by a test: load `token_dir` to change."""
    nlp = build(tiny_model_dir)
    examples = make_examples(nlp, ner_records[:N_TRAIN], [])
    history = train(nlp, examples, epochs=80, batch_size=4)
    return nlp, examples, history


@pytest.fixture(scope="module")
def token_dir(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("token-ner") / "nlp"
    trained[0].to_disk(path)
    return path


def texts(records, n=10):
    return [r["text"] for r in records[:n]]


def outputs(docs):
    out = []
    for doc in docs:
        group = doc.spans.get("ents_scored")
        cand = doc.spans.get("ents_candidates")
        out.append(
            {
                "ents": [(e.start, e.end, e.label_) for e in doc.ents],
                "scored": None if group is None else [(s.start, s.end, s.label_) for s in group],
                "scores": None if group is None else group.attrs["scores"].tolist(),
                "raw": None if group is None else group.attrs["raw_scores"].tolist(),
                "cands": None if cand is None else [(s.start, s.end, s.label_) for s in cand],
            }
        )
    return out


def assert_same(a, b, atol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x["ents"], x["scored"], x["cands"]) == (y["ents"], y["scored"], y["cands"])
        for key in ("scores", "raw"):
            numpy.testing.assert_allclose(x[key], y[key], atol=atol)


# ---------------------------------------------------------------- the decoder


def reference_valid(names):
    """BILUO validity, written from the tag names (independent of BiluoTables)."""
    open_label = None
    for name in names:
        prefix, label = (name, None) if name == "O" else name.split("-", 1)
        if open_label is not None:
            if prefix not in ("I", "L") or label != open_label:
                return False
            open_label = label if prefix == "I" else None
        elif prefix in ("I", "L"):
            return False
        elif prefix == "B":
            open_label = label
    return open_label is None


def brute_force(logp, forced, names):
    """The valid tag sequence of highest summed log-probability, by enumeration."""
    best, best_score = None, -numpy.inf
    for seq in itertools.product(range(len(names)), repeat=logp.shape[0]):
        if any(f and t != 0 for f, t in zip(forced, seq)):
            continue
        if not reference_valid([names[t] for t in seq]):
            continue
        score = float(sum(logp[i, t] for i, t in enumerate(seq)))
        if score > best_score:
            best, best_score = seq, score
    return numpy.asarray(best), best_score


def random_batch(rng, n_labels, max_len, n_docs, adversarial):
    n_tags = 1 + 4 * n_labels
    lengths = rng.integers(0, max_len + 1, size=n_docs)
    n = int(lengths.sum())
    logits = rng.normal(size=(n, n_tags)) * 3
    if adversarial:  # push towards I-/L- tags, invalid without a B- before them
        kind = biluo.BiluoTables.build(n_labels).kind
        logits[:, (kind == biluo.I_) | (kind == biluo.L_)] += 4
    probs = numpy.exp(logits) / numpy.exp(logits).sum(1, keepdims=True)
    forced = rng.random(n) < 0.15
    return lengths, probs.astype("f4"), forced


@pytest.mark.parametrize("n_labels,max_len", [(1, 5), (2, 4)])
def test_decoder_equals_brute_force_viterbi(n_labels, max_len):
    rng = numpy.random.default_rng(0)
    tables = biluo.BiluoTables.build(n_labels)
    names = biluo.tag_names([f"L{i}" for i in range(n_labels)])
    n_viterbi_docs = 0
    for trial in range(12):
        lengths, probs, forced = random_batch(rng, n_labels, max_len, 6, trial % 2 == 1)
        logp = biluo.log_probs(probs)
        tags = biluo.decode(logp, lengths, tables, forced)
        assert biluo.valid_tokens(tags, lengths, tables).all()
        offsets = numpy.cumsum(lengths) - lengths
        argmax = numpy.where(forced, 0, logp.argmax(1))
        for lo, n in zip(offsets.tolist(), lengths.tolist()):
            if not n:
                continue
            expected, score = brute_force(logp[lo : lo + n], forced[lo : lo + n], names)
            got = tags[lo : lo + n]
            assert reference_valid([names[t] for t in got])
            assert not (got[forced[lo : lo + n]] != 0).any()
            assert logp[lo + numpy.arange(n), got].sum() == pytest.approx(score, abs=1e-4)
            numpy.testing.assert_array_equal(got, expected)
            n_viterbi_docs += not reference_valid([names[t] for t in argmax[lo : lo + n]])
    assert n_viterbi_docs > 10  # the adversarial batches exercised the Viterbi path


def test_decoder_spans_are_well_formed_and_batch_independent():
    rng = numpy.random.default_rng(1)
    tables = biluo.BiluoTables.build(4)
    lengths, probs, forced = random_batch(rng, 4, 40, 30, adversarial=True)
    logp = biluo.log_probs(probs)
    tags = biluo.decode(logp, lengths, tables, forced)
    starts, ends, labels = biluo.spans(tags, lengths, tables)
    assert len(starts) == len(ends) == len(labels) and len(starts) > 0
    assert (starts < ends).all() and (ends[:-1] <= starts[1:]).all()
    offsets = numpy.cumsum(lengths) - lengths
    doc_of = numpy.searchsorted(offsets, starts, side="right") - 1
    assert (ends <= offsets[doc_of] + lengths[doc_of]).all()  # never across documents
    assert not forced[numpy.concatenate([numpy.arange(s, e) for s, e in zip(starts, ends)])].any()
    for lo, n in zip(offsets.tolist(), lengths.tolist()):  # one document at a time: the same
        one = biluo.decode(logp[lo : lo + n], numpy.asarray([n]), tables, forced[lo : lo + n])
        numpy.testing.assert_array_equal(one, tags[lo : lo + n])
    assert biluo.decode(logp[:0], numpy.zeros(3, dtype="i8"), tables).shape == (0,)


# ---------------------------------------------------------------- the component


def test_it_learns_its_training_documents(trained):
    nlp, examples, history = trained
    assert nlp.get_pipe("ner").labels == ("LOC", "MISC", "ORG", "PER")
    losses = [h["ner"] for h in history]
    assert losses[-1] < 0.1 * losses[0]
    scores = nlp.evaluate(examples)
    assert scores["ents_f"] >= 0.95, scores
    assert {"ents_p", "ents_r", "ents_per_type"} <= set(scores)


def test_entities_scores_and_candidates(token_dir, ner_records):
    nlp = spacy.load(token_dir)
    docs = list(nlp.pipe(texts(ner_records, 16)))
    n_ents = 0
    for doc in docs:
        group, cand = doc.spans["ents_scored"], doc.spans["ents_candidates"]
        assert [(s.start, s.end, s.label_) for s in group] == [
            (e.start, e.end, e.label_) for e in doc.ents
        ]
        for key in ("scores", "raw_scores"):
            values = group.attrs[key]
            assert values.dtype == numpy.float32 and len(values) == len(doc.ents)
            assert numpy.all((values >= 0) & (values <= 1))
        for ent, score in zip(doc.ents, group.attrs["scores"]):
            assert ent._.score == pytest.approx(float(score))
            n_ents += 1
        chosen = {(e.start, e.end, e.label_) for e in doc.ents}
        assert not chosen & {(s.start, s.end, s.label_) for s in cand}
        assert all(len(s) == 1 for s in cand) and numpy.all(cand.attrs["raw_scores"] >= 0.1)
    assert n_ents > 0
    off = spacy.load(token_dir, config={"components": {"ner": {"entity_scores": False}}})
    plain = list(off.pipe(texts(ner_records, 16)))
    assert [o["ents"] for o in outputs(plain)] == [o["ents"] for o in outputs(docs)]
    assert all("ents_scored" not in doc.spans for doc in plain)


def test_raw_score_is_the_geometric_mean_of_the_tag_probabilities(token_dir, ner_records):
    nlp = spacy.load(token_dir)
    ner = nlp.get_pipe("ner")
    docs = [nlp.make_doc(t) for t in texts(ner_records, 6)]
    for _, proc in nlp.pipeline[:1]:
        docs = list(proc.pipe(docs))
    batch = ner.predict(docs)
    ner.set_annotations(docs, batch)
    offsets = numpy.cumsum(batch.lengths) - batch.lengths
    for doc, lo in zip(docs, offsets.tolist()):
        for ent, raw in zip(doc.ents, doc.spans["ents_scored"].attrs["raw_scores"]):
            rows = numpy.arange(lo + ent.start, lo + ent.end)
            p = batch.probs[rows, batch.tags[rows]].astype("f8")
            assert raw == pytest.approx(float(p.prod() ** (1 / len(p))), 1e-4)


def test_scores_do_not_depend_on_the_batch(token_dir, ner_records, emotion_records):
    nlp = spacy.load(token_dir)
    nlp.get_pipe("ner").set_calibration({"method": "platt", "a": 1.7, "b": -0.4})
    batch = texts(ner_records, 10) + texts(emotion_records, 6) + ["", " "]
    one = outputs(nlp.pipe(batch, batch_size=1))
    assert_same(outputs(nlp.pipe(batch, batch_size=64)), one)
    assert_same(outputs(nlp.pipe(batch[::-1], batch_size=7))[::-1], one)
    assert one[-2]["ents"] == [] and one[-2]["scores"] == []


def test_preset_entities_are_kept_and_not_overlapped(token_dir, ner_records):
    nlp = spacy.load(token_dir)
    sample = texts(ner_records, 16)
    plain = [list(doc.ents) for doc in nlp.pipe(sample)]
    # A ruler entity over the first token of each predicted entity, with another label.
    patterns, targets = [], []
    for ents in plain:
        if ents:
            first = ents[0][0]
            patterns.append({"label": "RULE", "pattern": [{"ORTH": first.text}]})
            targets.append(first.text)
    assert patterns
    ruler = nlp.add_pipe("entity_ruler", before="ner")
    ruler.add_patterns(patterns)
    n_rule = 0
    for doc in nlp.pipe(sample):
        rule = [e for e in doc.ents if e.label_ == "RULE"]
        n_rule += len(rule)
        rule_tokens = {i for e in rule for i in range(e.start, e.end)}
        assert all(e.text in targets and len(e) == 1 for e in rule)
        model_ents = [e for e in doc.ents if e.label_ != "RULE"]
        assert not {i for e in model_ents for i in range(e.start, e.end)} & rule_tokens
        group = doc.spans["ents_scored"]  # the component's own entities only
        assert [(s.start, s.end, s.label_) for s in group] == [
            (e.start, e.end, e.label_) for e in model_ents
        ]
        assert all(e._.score is None for e in rule)
        assert not {s.start for s in doc.spans["ents_candidates"]} & rule_tokens
        assert all(t.ent_iob_ in ("B", "I", "O") for t in doc)  # no token left unannotated
    assert n_rule >= len(patterns)


def test_serialization_round_trips_with_calibration(token_dir, ner_records, tmp_path):
    nlp = spacy.load(token_dir)
    cal = {"method": "platt", "a": 0.75, "b": 0.25, "n": 5}  # exact in JSON
    nlp.get_pipe("ner").set_calibration(cal)
    sample = texts(ner_records, 8)
    expected = outputs(nlp.pipe(sample))
    nlp.to_disk(tmp_path / "again")
    copies = {
        "disk": spacy.load(tmp_path / "again"),
        "bytes": spacy.blank("es").from_config(nlp.config).from_bytes(nlp.to_bytes()),
        "pickle": pickle.loads(pickle.dumps(nlp)),
    }
    for how, other in copies.items():
        ner = other.get_pipe("ner")
        assert ner.cfg["calibration"] == cal and ner.labels == ("LOC", "MISC", "ORG", "PER"), how
        assert_same(outputs(other.pipe(sample)), expected)
    raw = outputs(spacy.load(token_dir).pipe(sample))
    assert any(x["scores"] != y["scores"] for x, y in zip(raw, expected) if x["scores"])


def test_missing_and_misaligned_gold_give_no_gradient(token_dir, ner_records, emotion_records):
    nlp = spacy.load(token_dir)
    ner = nlp.get_pipe("ner")
    emotion = make_examples(nlp, [], emotion_records[:3])  # no entity annotation at all
    rec = ner_records[0]
    full = make_examples(nlp, [rec], [])[0]
    # Entity annotation missing on the first two tokens, known on the rest.
    partial_ref = full.reference.copy()
    partial_ref.set_ents(list(partial_ref.ents), missing=[partial_ref[0:2]], default="unmodified")
    partial = Example(nlp.make_doc(rec["text"]), partial_ref)
    # The predicted doc tokenised differently: the last token of the first entity merged
    # with the next one, so that the entity cannot be aligned: its tokens are missing.
    ent = full.reference.ents[0]
    words = [t.text for t in full.predicted]
    spaces = [bool(t.whitespace_) for t in full.predicted]
    i = ent.end - 1
    merged = Doc(
        nlp.vocab,
        words=words[:i] + [words[i] + words[i + 1]] + words[i + 2 :],
        spaces=spaces[:i] + spaces[i + 1 :],
    )
    misaligned = Example(merged, full.reference)
    assert misaligned.get_aligned_ner()[ent.start : i + 1] == [None] * (i + 1 - ent.start)
    examples = emotion + [partial, misaligned]
    docs = [eg.predicted for eg in examples]
    for _, proc in nlp.pipeline[:1]:
        docs = list(proc.pipe(docs))
    scores = ner.model.predict(docs)
    loss, grads = ner.get_loss(examples, scores)
    assert loss > 0 and [g.shape for g in grads] == [s.shape for s in scores]
    for g in grads[:3]:
        assert not g.any()
    assert not grads[3][:2].any() and grads[3][2:].any()
    assert not grads[4][ent.start : i + 1].any() and grads[4][i + 1 :].any()
    assert grads[4][: ent.start].any()
    only_missing, _ = ner.get_loss(emotion, scores[:3])
    assert only_missing == 0.0


def test_unknown_gold_labels_are_missing_and_logged(token_dir, ner_records, caplog):
    nlp = spacy.load(token_dir)
    ner = nlp.get_pipe("ner")
    ref = ner_doc(nlp, ner_records[0], "n", CONLL_LABELS)
    renamed = [spacy.tokens.Span(ref, e.start, e.end, label="NEW") for e in ref.ents]
    ref.set_ents(renamed)
    eg = Example(nlp.make_doc(ref.text), ref)
    with caplog.at_level(logging.WARNING):
        gold = ner._gold([eg])
    assert (gold[[e.start for e in renamed]] == -1).all() and (gold >= 0).any()
    assert "NEW" in caplog.text and "missing" in caplog.text


@pytest.mark.parametrize(
    "config,match",
    [
        ({"candidate_threshold": 0.0}, r"candidate_threshold = 0.0 must be in \(0, 1\]"),
        ({"model": {"normalize": False}}, r"normalize = true"),
    ],
)
def test_bad_settings_are_clear_errors(tiny_model_dir, config, match):
    with pytest.raises(BetoConfigError, match=match):
        build(tiny_model_dir, **config)


def test_bad_initialization_is_a_clear_error(tiny_model_dir, ner_records, emotion_records):
    nlp = build(tiny_model_dir)
    emotion = make_examples(nlp, [], emotion_records[:4])
    with pytest.raises(BetoConfigError, match="no entity label"):
        nlp.initialize(lambda: emotion)
    examples = make_examples(nlp, ner_records[:4], [])
    with pytest.raises(BetoConfigError, match=r"labels \['DATE'\]"):
        nlp.get_pipe("ner").initialize(lambda: examples, labels=["PER", "DATE"])
    wrong = build(tiny_model_dir, model={"nO": 5})
    with pytest.raises(BetoConfigError, match="nO = 5"):
        wrong.initialize(lambda: make_examples(wrong, ner_records[:4], []))
    nlp = build(tiny_model_dir)
    nlp.initialize(lambda: make_examples(nlp, ner_records[:4], []))
    with pytest.raises(BetoConfigError, match="after the model is initialized"):
        nlp.get_pipe("ner").add_label("DATE")


def test_initialize_with_given_labels(tiny_model_dir, ner_records):
    nlp = build(tiny_model_dir)
    nlp.config["initialize"]["components"]["ner"] = {"labels": ["PER", "LOC"]}
    nlp.initialize(lambda: make_examples(nlp, ner_records[:6], []))
    ner = nlp.get_pipe("ner")
    assert ner.labels == ("PER", "LOC") and ner.model.get_dim("nO") == 9
    assert ner.tag_names[:3] == ["O", "B-PER", "I-PER"]


def write_dev(path, ner_records, emotion_records):
    nlp = spacy.blank("es")
    docs = [ner_doc(nlp, r, "n", CONLL_LABELS) for r in ner_records[N_TRAIN : N_TRAIN + 12]]
    docs += [textcat_doc(nlp, r, "e", EMOTION_LABELS) for r in emotion_records[:4]]
    DocBin(docs=docs).to_disk(path)
    return path


def test_calibrate_and_select_work_on_it(token_dir, ner_records, emotion_records, tmp_path):
    from spacy_beto.heads import pipeline_heads

    heads = pipeline_heads(spacy.load(token_dir))
    assert [(h.component, h.prefix) for h in heads] == [("ner", "ents")]
    dev = write_dev(tmp_path / "dev.spacy", ner_records, emotion_records)
    out = tmp_path / "cal"
    result = CliRunner().invoke(app, ["calibrate", str(token_dir), str(dev), "-o", str(out)])
    assert result.exit_code == 0, result.output
    nlp = spacy.load(out)
    cal = nlp.get_pipe("ner").cfg["calibration"]
    assert cal["method"] == "platt" and cal["n"] > 0
    src = tmp_path / "in.jsonl"
    lines = [{"text": t, "id": i} for i, t in enumerate(texts(ner_records, 12))]
    src.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    sel = tmp_path / "sel.jsonl"
    args = ["select", str(out), str(src), "--n", "5", "-o", str(sel), "--no-progress"]
    result = CliRunner().invoke(app, args + ["--strategy", "entities"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in sel.read_text().splitlines()]
    assert len(records) == 5
    scores = [r["meta"]["score"] for r in records]
    assert scores == sorted(scores) and all(0.0 <= s <= 1.0 for s in scores)
    for rec in records:
        for span in rec["spans"]:
            assert rec["text"][span["start"] : span["end"]] == span["text"]
            assert 0.0 <= span["score"] <= 1.0


def test_calibrate_with_a_training_lexicon(token_dir, ner_records, emotion_records, tmp_path):
    from spacy_beto.calibration import _logit, _sigmoid

    dev = write_dev(tmp_path / "dev.spacy", ner_records, emotion_records)
    blank = spacy.blank("es")
    train_docs = [ner_doc(blank, r, "n", CONLL_LABELS) for r in ner_records[:N_TRAIN]]
    train = tmp_path / "train.spacy"
    DocBin(docs=train_docs).to_disk(train)
    out = tmp_path / "cal"
    args = ["calibrate", str(token_dir), str(dev), "--train", str(train), "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    nlp = spacy.load(out)
    cal = nlp.get_pipe("ner").cfg["calibration"]
    assert cal["method"] == "entity_features" and cal["n"] > 0
    expected_lexicon = {}
    for doc in train_docs:
        for ent in doc.ents:
            expected_lexicon.setdefault(ent.text, set()).add(ent.label_)
    assert cal["lexicon"] == {k: sorted(v) for k, v in expected_lexicon.items()}
    sample = texts(ner_records, 12)
    docs = list(nlp.pipe(sample))
    plain = outputs(spacy.load(token_dir).pipe(sample))
    assert [o["ents"] for o in outputs(docs)] == [o["ents"] for o in plain]
    n_checked = 0
    for doc in docs:
        group = doc.spans["ents_scored"]
        for span, score, raw in zip(group, group.attrs["scores"], group.attrs["raw_scores"]):
            known = cal["lexicon"].get(span.text, [])
            z = cal["a"] * _logit(raw) + cal["b"].get(span.label_, cal["b_default"])
            z += cal["seen_same"] * (span.label_ in known)
            z += cal["seen_other"] * any(label != span.label_ for label in known)
            assert float(score) == pytest.approx(float(_sigmoid(z)), abs=1e-5)
            assert 0.0 <= score <= 1.0 and span._.score == pytest.approx(float(score))
            n_checked += 1
    assert n_checked > 0
    expected = outputs(docs)
    copies = {
        "bytes": spacy.blank("es").from_config(nlp.config).from_bytes(nlp.to_bytes()),
        "pickle": pickle.loads(pickle.dumps(nlp)),
    }
    for how, other in copies.items():
        assert other.get_pipe("ner").cfg["calibration"]["lexicon"] == cal["lexicon"], how
        assert_same(outputs(other.pipe(sample)), expected)
    # Bad --train: a missing file, a set without entities.
    for bad, message in (
        (tmp_path / "nope.spacy", "no such file or directory"),
        (write_dev(tmp_path / "emotions.spacy", [], emotion_records), "no gold entities"),
    ):
        args = ["calibrate", str(token_dir), str(dev), "--train", str(bad), "-o", str(out)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code != 0 and message in " ".join(result.output.split())
        assert "Traceback" not in result.output
