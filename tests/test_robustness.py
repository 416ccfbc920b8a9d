"""Bad input: all kinds of text go through nlp() and nlp.pipe alike; nothing crashes or is lost."""

import base64
import random

import numpy
import pytest

# A 200,000-character document: corpus-like sentences with the odd entity.
SENTENCE = "El Ayuntamiento de Málaga aprobó ayer el presupuesto de Ñuñoa con Ana Pérez. "
LONG_DOC = (SENTENCE * (200_000 // len(SENTENCE) + 1))[:200_000]
BLOB = base64.b64encode(random.Random(0).randbytes(3750)).decode("ascii")  # 5,000 characters
URL = "https://ejemplo.es/" + "/".join(["ruta"] * 1000)  # one token, ~2,000 word pieces

BAD_INPUTS = {
    "empty": "",
    "whitespace": "  \t   ",
    "newlines": "\n\n\n",
    "long_document": LONG_DOC,
    "base64_token": f"Adjunto: {BLOB} fin",
    "url_token": f"Visite {URL} hoy",
    "control_and_nul": "Hola\x00mundo \x07 en \x1b[31mMadrid\x0c y \x00 \x1f Sevilla",
    "bom": "\ufeffEl Real Madrid ganó en Barcelona",
    "zero_width": "Ana\u200b \u200d \u00ad Pérez vive en Lima",
    "emoji_zwj_skin_tones": "👨‍👩‍👧‍👦 Juan 👍🏽 está feliz 🏳️‍🌈 en Bogotá 🤷🏿‍♀️",
    "combining_accents": "Ma\u0301laga, Co\u0301rdoba y A\u0301vila; Málaga, Córdoba y Ávila",
    "right_to_left": "مرحبا بالعالم שלום עולם en Madrid",
    "mixed_scripts": "Tokyo 東京 Москва Ελλάδα Madrid ñandú",
    "punctuation_only": "¡¿...!?;:—«»()[]{}…",
}
BATCH_SIZES = (1, 8, 64)


def listener_vectors(nlp, doc):
    """The pooled transformer features a head sees for each token of `doc`."""
    listener = nlp.get_pipe("ner").model.get_ref("tok2vec").layers[0]
    return listener.predict([doc])[0]


def outputs(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents], doc.cats


@pytest.fixture(scope="module")
def keep_trf_data(trained_nlp):
    """Keep doc._.trf_data on the docs (dropped by doc_cleaner) so the tests can inspect it."""
    with trained_nlp.select_pipes(disable=["doc_cleaner"]):
        yield


@pytest.fixture(scope="module")
def processed(trained_nlp, keep_trf_data):
    """{name: [doc from nlp(text), doc from pipe(batch_size=1), ... 8, ... 64]}."""
    texts = list(BAD_INPUTS.values())
    runs = [[trained_nlp(text) for text in texts]]
    for batch_size in BATCH_SIZES:
        runs.append(list(trained_nlp.pipe(texts, batch_size=batch_size)))
    return {name: [run[i] for run in runs] for i, name in enumerate(BAD_INPUTS)}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_same_output_for_call_and_every_batch_size(processed, name):
    docs = processed[name]
    ents, cats = outputs(docs[0])
    for doc in docs[1:]:
        other_ents, other_cats = outputs(doc)
        assert other_ents == ents
        assert other_cats.keys() == cats.keys()
        for label, score in cats.items():
            assert other_cats[label] == pytest.approx(score, abs=1e-6)


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_text_kept_and_entities_inside_it(processed, name):
    text = BAD_INPUTS[name]
    for doc in processed[name]:
        assert doc.text == text
        for ent in doc.ents:
            assert 0 <= ent.start_char < ent.end_char <= len(text)
            assert ent.text == text[ent.start_char : ent.end_char]
            assert ent.text.strip()


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_every_non_whitespace_token_gets_a_vector(trained_nlp, processed, name):
    doc = processed[name][0]
    if not len(doc):
        return
    lengths = doc._.trf_data.align.lengths
    assert len(lengths) == len(doc)
    vectors = listener_vectors(trained_nlp, doc)
    assert vectors.shape[0] == len(doc)
    for token, n_pieces, vector in zip(doc, lengths, vectors):
        if token.is_space:
            continue
        assert n_pieces > 0, f"token {token.i} {token.text!r} has no word piece"
        assert numpy.abs(vector).sum() > 0, f"token {token.i} {token.text!r} has a zero vector"


def test_docs_without_text_score_zero_whatever_the_batch(trained_nlp):
    texts = ["", "Qué alegría", "   ", "\n"]
    for batch_size in BATCH_SIZES:
        docs = list(trained_nlp.pipe(texts, batch_size=batch_size))
        for doc in (docs[0], docs[2], docs[3]):
            assert set(doc.cats.values()) == {0.0}
            assert not doc.ents
        assert sum(docs[1].cats.values()) == pytest.approx(1.0, abs=1e-5)


def test_token_dropped_by_the_tokenizer_sees_its_window(trained_nlp, keep_trf_data):
    """A control/zero-width token is aligned to its window's [CLS] piece."""
    doc = trained_nlp("Ana \x00 \u200b Pérez")
    data = doc._.trf_data
    assert list(data.align[1].data.ravel()) == [0]
    assert list(data.align[2].data.ravel()) == [0]
    assert data.wordpieces.strings[0][0] == "[CLS]"
