"""Inference levers of beto_transformer: each leaves entities and categories unchanged."""

import pytest
import spacy

TEXTS = [
    "El presidente Gustavo Petro viajó a Madrid con la delegación de Ecopetrol.",
    "¡Qué alegría, por fin aprobé el examen!",
    "Hoy",
    "",
    "La Universidad de Chile y el Banco Santander firmaron un acuerdo en Santiago. " * 12,
    "María López, de la ONU, llegó a Bogotá.",
    "Estoy muy triste por lo que pasó ayer en Valencia.",
    "Real Madrid",
] * 3

# Each lever's non-default setting.
LEVERS = {
    "group_items": 0,
    "inference_mode": False,
    "keep_trf_data": True,
    "max_batch_items": 64,  # many small sub-batches of documents, each with its own groups
}


def annotations(nlp, texts, batch_size=5):
    out = []
    for doc in nlp.pipe(texts, batch_size=batch_size):
        ents = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        out.append((doc.text, ents, dict(doc.cats)))
    return out


def assert_same(got, expected):
    assert len(got) == len(expected)
    for (text, ents, cats), (text2, ents2, cats2) in zip(got, expected):
        assert text == text2  # input order
        assert ents == ents2
        assert cats.keys() == cats2.keys()
        for label in cats:
            assert cats[label] == pytest.approx(cats2[label], abs=1e-5)
        if cats:
            assert max(cats, key=cats.get) == max(cats2, key=cats2.get)


@pytest.fixture
def trf(trained_nlp):
    pipe = trained_nlp.get_pipe("transformer")
    saved = dict(pipe.cfg)
    yield pipe
    pipe.cfg.clear()
    pipe.cfg.update(saved)


@pytest.mark.parametrize("lever", sorted(LEVERS))
def test_each_lever_keeps_outputs(trained_nlp, trf, lever):
    with_all = annotations(trained_nlp, TEXTS)
    trf.cfg[lever] = LEVERS[lever]
    assert_same(annotations(trained_nlp, TEXTS), with_all)


def test_all_levers_off_and_single_docs_match(trained_nlp, trf):
    texts = [text for text in TEXTS if text]  # spaCy's textcat scores a lone empty doc 0
    with_all = annotations(trained_nlp, texts, batch_size=64)
    one_by_one = []
    for text in texts:
        doc = trained_nlp(text)
        one_by_one.append(
            (doc.text, [(e.start_char, e.end_char, e.label_) for e in doc.ents], dict(doc.cats))
        )
    assert_same(one_by_one, with_all)
    trf.cfg.update(LEVERS)
    assert_same(annotations(trained_nlp, texts, batch_size=64), with_all)


def test_trf_data_dropped_after_listeners_unless_kept(trained_nlp, trf):
    from spacy_beto.layers.inference import PENDING_KEY

    docs = list(trained_nlp.pipe(TEXTS[:6]))
    assert all(doc._.trf_data is None for doc in docs)
    assert all(PENDING_KEY not in doc.user_data for doc in docs)
    trf.cfg["keep_trf_data"] = True
    docs = list(trained_nlp.pipe(TEXTS[:6]))
    assert all(doc._.trf_data is not None for doc in docs if len(doc))


def test_trf_data_kept_without_listeners(tiny_model_dir):
    nlp = spacy.blank("es")
    nlp.add_pipe("beto_transformer", config={"model": {"name": str(tiny_model_dir)}})
    nlp.initialize()
    doc = nlp("Sin componentes que escuchen, los datos se quedan.")
    assert doc._.trf_data is not None


def test_factory_option_keep_trf_data(tiny_model_dir):
    nlp = spacy.blank("es")
    trf = nlp.add_pipe(
        "beto_transformer",
        config={"model": {"name": str(tiny_model_dir)}, "keep_trf_data": True},
    )
    assert trf.keep_trf_data is True
    assert nlp.config["components"]["beto_transformer"]["keep_trf_data"] is True


def test_training_after_inference_still_works(
    trained_nlp, tiny_model_dir, ner_records, emotion_records
):
    from .conftest import build_pipeline, make_examples

    nlp = build_pipeline(tiny_model_dir)
    nlp.from_bytes(trained_nlp.to_bytes())  # a copy: the shared fixture is not updated
    list(nlp.pipe(TEXTS[:4]))
    examples = make_examples(nlp, ner_records[:8], emotion_records[:8])
    losses = nlp.update(examples, sgd=nlp.resume_training())
    assert losses["transformer"] > 0 and losses["ner"] > 0


def test_windows_in_small_groups_keep_outputs(trained_nlp, trf):
    """Many encoder calls per batch (small groups) give what one padded call gives."""
    trf.cfg["group_items"] = 0
    one_call = annotations(trained_nlp, TEXTS, batch_size=16)
    trf.cfg["group_items"] = 48
    assert_same(annotations(trained_nlp, TEXTS, batch_size=16), one_call)
