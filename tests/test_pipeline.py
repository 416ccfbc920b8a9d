"""Training, serialization and plugging es_beto_trf's components into other pipelines."""

import numpy
import pytest
import spacy

from spacy_beto import BetoConfigError, add_to

from .conftest import build_pipeline, make_examples, train

TEXTS = [
    "El presidente Gustavo Petro viajó a Madrid para reunirse con la ONU.",
    "¡Qué alegría ver ganar al Atlético Nacional en Medellín! 🎉",
    "",
    "Lionel Messi y Antonela Roccuzzo llegaron a Rosario.",
]


def outputs(nlp, texts=TEXTS):
    return [
        ([(e.start_char, e.end_char, e.label_) for e in doc.ents], doc.cats)
        for doc in nlp.pipe(texts)
    ]


def assert_same_outputs(a, b):
    for (ents_a, cats_a), (ents_b, cats_b) in zip(a, b):
        assert ents_a == ents_b
        assert cats_a.keys() == cats_b.keys()
        for key in cats_a:
            assert cats_a[key] == pytest.approx(cats_b[key], abs=1e-6)


def test_training_lowers_the_loss(tiny_model_dir, ner_records, emotion_records):
    nlp = build_pipeline(tiny_model_dir)
    history = train(nlp, make_examples(nlp, ner_records, emotion_records), epochs=6)
    for name in ("ner", "textcat"):
        assert history[-1][name] < history[0][name], (name, history)


def weights_moved(nlp, examples, *, learn_rate_scale):
    """Total |change| of the encoder's and the text classifier's weights in two seeded updates
    of a fresh pipeline whose transformer has `learn_rate_scale`.

    Two: spaCy's Language.update calls each component's finish_update right after its update,
    before the heads backpropagate into the transformer, so the encoder's weights take the
    first update's step in the second (spaCy PR #12136, fixed for v4 only). Both heads read
    encoder outputs of the initial weights in both updates."""
    nlp.get_pipe("transformer").learn_rate_scale = learn_rate_scale
    spacy.util.fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    encoder = nlp.get_pipe("transformer").trf_model.transformer
    head = nlp.get_pipe("textcat").model
    head_params = [(node, name) for node in head.walk() for name in node.param_names]

    def snapshot():
        return (
            [p.detach().numpy().copy() for p in encoder.parameters()],
            [node.get_param(name).copy() for node, name in head_params],
        )

    before = snapshot()
    for _ in range(2):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    after = snapshot()
    return tuple(
        sum(float(numpy.abs(b - a).sum()) for a, b in zip(old, new))
        for old, new in zip(before, after)
    )


def test_learn_rate_scale_scales_the_encoders_steps_only(
    tiny_model_dir, ner_records, emotion_records
):
    # Adam's step is proportional to the learning rate: at learn_rate_scale 0.25 the encoder's
    # weights move a quarter as far as at 1.0 on the same gradient, the head's as far.
    moved = {}
    for scale in (1.0, 0.25):
        nlp = build_pipeline(tiny_model_dir)
        examples = make_examples(nlp, ner_records[:8], emotion_records[:8])
        moved[scale] = weights_moved(nlp, examples, learn_rate_scale=scale)
    (encoder_full, head_full), (encoder_scaled, head_scaled) = moved[1.0], moved[0.25]
    assert encoder_full > 0 and head_full > 0
    assert encoder_scaled / encoder_full == pytest.approx(0.25, rel=1e-3)
    assert head_scaled == pytest.approx(head_full, rel=1e-5)


@pytest.mark.parametrize("scale", [0.0, -0.5])
def test_learn_rate_scale_must_be_positive(scale):
    nlp = spacy.blank("es")
    with pytest.raises(BetoConfigError, match="frozen_components"):
        nlp.add_pipe("beto_transformer", config={"learn_rate_scale": scale})


def test_outputs_have_entities_and_categories(trained_nlp):
    docs = list(trained_nlp.pipe(TEXTS))
    assert len(docs) == len(TEXTS)
    for doc in docs:
        assert set(doc.cats) == {"anger", "disgust", "fear", "joy", "sadness", "surprise", "others"}
        # A document without text scores 0.0 for every label (see test_robustness.py).
        expected_sum = 1.0 if doc.text.strip() else 0.0
        assert sum(doc.cats.values()) == pytest.approx(expected_sum, abs=1e-4)
        assert all(0 <= e.start_char < e.end_char <= len(doc.text) for e in doc.ents)


def test_disk_round_trip_gives_identical_outputs(trained_nlp, tmp_path):
    trained_nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == trained_nlp.pipe_names
    assert_same_outputs(outputs(trained_nlp), outputs(loaded))


def test_bytes_round_trip_gives_identical_outputs(trained_nlp, tiny_model_dir):
    fresh = build_pipeline(tiny_model_dir)
    fresh.from_bytes(trained_nlp.to_bytes())
    assert_same_outputs(outputs(trained_nlp), outputs(fresh))


def test_add_to_custom_pipeline_with_shared_transformer(trained_nlp, saved_pipeline):
    nlp = spacy.blank("es")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "ORG", "pattern": "spacy-beto"}])
    added = add_to(nlp, saved_pipeline, components=["ner", "textcat"])
    assert added == ["beto_transformer", "ner", "textcat", "doc_cleaner"]
    assert nlp.pipe_names == ["sentencizer", "entity_ruler", *added]
    trf = nlp.get_pipe("beto_transformer")
    assert set(trf.listening_components) == {"ner", "textcat"}
    text = "Hoy spacy-beto llegó a Madrid."
    doc = nlp(text)
    assert ("spacy-beto", "ORG") in [(e.text, e.label_) for e in doc.ents]
    assert len(list(doc.sents)) == 1
    ref = trained_nlp(text)
    for key, value in ref.cats.items():
        assert doc.cats[key] == pytest.approx(value, abs=1e-6)


def test_add_to_with_own_copies_of_the_transformer(trained_nlp, saved_pipeline, tmp_path):
    source = spacy.load(saved_pipeline)
    nlp = spacy.blank("es")
    added = add_to(nlp, source, components=["textcat"], share_transformer=False)
    assert added == nlp.pipe_names == ["textcat"]  # no transformer, so no trf_data to drop
    # The source pipeline is not modified: its transformer keeps both listeners.
    assert set(source.get_pipe("transformer").listening_components) == {"ner", "textcat"}
    assert_same_outputs(outputs(source), outputs(trained_nlp))
    text = "¡Qué alegría ver ganar al Atlético Nacional en Medellín!"
    got, ref = nlp(text).cats, trained_nlp(text).cats
    assert numpy.allclose([got[k] for k in ref], list(ref.values()), atol=1e-6)
    nlp.to_disk(tmp_path / "copy")
    reloaded = spacy.load(tmp_path / "copy")
    assert reloaded(text).cats == pytest.approx(got, abs=1e-6)


def test_add_to_errors(saved_pipeline):
    nlp = spacy.blank("es")
    with pytest.raises(BetoConfigError, match="not in the source pipeline"):
        add_to(nlp, saved_pipeline, components=["parser"])
    add_to(nlp, saved_pipeline, components=["ner"])
    with pytest.raises(BetoConfigError, match="already has a transformer"):
        add_to(nlp, saved_pipeline, components=["textcat"], transformer_name="trf2")


@pytest.mark.parametrize("components", [["ner"], ["textcat"], ["ner", "textcat"]])
def test_sourced_heads_release_trf_data(trained_nlp, saved_pipeline, components):
    """Heads added with add_to: doc_cleaner runs last, and the heads' outputs are unchanged."""
    nlp = spacy.blank("es")
    add_to(nlp, saved_pipeline, components=components)
    assert nlp.pipe_names[-1] == "doc_cleaner"
    docs = list(nlp.pipe(TEXTS))
    assert all(doc._.trf_data is None for doc in docs)
    for doc, (ents, cats) in zip(docs, outputs(trained_nlp)):
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == (
            ents if "ner" in components else []
        )
        if "textcat" in components:
            assert doc.cats == pytest.approx(cats, abs=1e-6)


def test_add_to_moves_an_existing_doc_cleaner_last(trained_nlp, saved_pipeline):
    nlp = spacy.blank("es")
    nlp.add_pipe("doc_cleaner", name="cleaner", config={"attrs": {"_.trf_data": None}})
    nlp.add_pipe("sentencizer")
    added = add_to(nlp, saved_pipeline, components=["textcat"])
    assert nlp.pipe_names == ["sentencizer", "beto_transformer", "textcat", "cleaner"]
    assert added == ["beto_transformer", "textcat", "cleaner"]
    doc = nlp(TEXTS[1])
    assert doc._.trf_data is None
    assert doc.cats == pytest.approx(trained_nlp(TEXTS[1]).cats, abs=1e-6)
