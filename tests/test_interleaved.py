"""The interleaving corpus reader: proportions, smooth mixing, errors."""

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_beto import BetoConfigError
from spacy_beto.corpus.interleaved import create_interleaved_corpus


@pytest.fixture
def corpora(tmp_path):
    nlp = spacy.blank("es")
    paths = {}
    for name, n in (("a", 30), ("b", 10)):
        docs = [nlp.make_doc(f"{name} {i}") for i in range(n)]
        DocBin(docs=docs).to_disk(tmp_path / f"{name}.spacy")
        paths[name] = str(tmp_path / f"{name}.spacy")
    return paths


def sources(examples):
    return [eg.reference.text.split()[0] for eg in examples]


def test_equal_proportions_alternate_and_cycle(corpora):
    reader = create_interleaved_corpus(corpora, proportions={"a": 1.0, "b": 1.0}, size=40)
    src = sources(reader(spacy.blank("es")))
    assert len(src) == 40 and src.count("a") == 20 and src.count("b") == 20
    assert all(src[i] != src[i + 1] for i in range(0, 40, 2))  # a/b alternate
    texts = [eg.reference.text for eg in reader(spacy.blank("es")) if eg.reference.text[0] == "b"]
    assert len(set(texts[:10])) == 10  # the small corpus is cycled without repeats per pass


def test_custom_proportions_and_default_size(corpora):
    reader = create_interleaved_corpus(corpora, proportions={"a": 0.75, "b": 0.25})
    src = sources(reader(spacy.blank("es")))
    assert len(src) == 40
    assert src.count("a") == 30 and src.count("b") == 10
    for window in range(0, 40, 8):
        assert src[window : window + 8].count("b") == 2  # mixed throughout, not in blocks


def test_same_seed_same_order(corpora):
    runs = [
        [eg.reference.text for eg in create_interleaved_corpus(corpora, seed=3)(spacy.blank("es"))]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_errors(corpora, tmp_path):
    with pytest.raises(BetoConfigError, match="one proportion per path"):
        create_interleaved_corpus(corpora, proportions={"a": 1.0})
    with pytest.raises(BetoConfigError, match="does not exist"):
        create_interleaved_corpus({"x": str(tmp_path / "nope.spacy")})
    with pytest.raises(BetoConfigError, match="not all 0"):
        create_interleaved_corpus(corpora, proportions={"a": 0.0, "b": 0.0})


def test_zero_proportion_leaves_a_corpus_out(corpora):
    reader = create_interleaved_corpus(corpora, proportions={"a": 1.0, "b": 0.0}, size=12)
    assert sources(reader(spacy.blank("es"))) == ["a"] * 12


def test_unset_path_is_explained_when_read(corpora):
    reader = create_interleaved_corpus({"a": corpora["a"], "b": None})
    with pytest.raises(BetoConfigError, match="no path for b"):
        list(reader(spacy.blank("es")))


def test_proportions_count_words_by_default(tmp_path):
    """Long documents and short ones get equal shares of words, not of documents."""
    nlp = spacy.blank("es")
    long_docs = [nlp.make_doc("largo " + " ".join(["x"] * 9)) for _ in range(20)]  # 10 words
    short_docs = [nlp.make_doc("corto y") for _ in range(50)]  # 2 words
    DocBin(docs=long_docs).to_disk(tmp_path / "long.spacy")
    DocBin(docs=short_docs).to_disk(tmp_path / "short.spacy")
    paths = {"long": str(tmp_path / "long.spacy"), "short": str(tmp_path / "short.spacy")}
    words = create_interleaved_corpus(paths, size=120)(nlp)
    src = sources(words)
    assert src.count("corto") == 5 * src.count("largo")  # 50/50 by words
    examples = create_interleaved_corpus(paths, size=120, unit="examples")(nlp)
    assert sources(examples).count("largo") == 60


def test_unknown_unit_is_an_error(corpora):
    with pytest.raises(BetoConfigError, match="unit must be"):
        create_interleaved_corpus(corpora, unit="tokens")
