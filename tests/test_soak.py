"""The soak benchmark's building blocks, on the tiny trained pipeline."""

import importlib.util

from .conftest import ROOT


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", ROOT / "benchmarks" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_documents_are_varied_and_reproducible():
    soak = load_soak()
    texts = soak.base_texts(None)
    first = list(soak.generate(texts, 500, seed=1))
    assert first == list(soak.generate(texts, 500, seed=1))
    assert len(set(first)) > 490
    assert any(len(text) > 2000 for text in soak.generate(texts, 3000, seed=1))


def test_memory_zone_keeps_the_string_store_flat(trained_nlp):
    soak = load_soak()
    texts = soak.generate(soak.base_texts(None), 300, seed=2)
    rows = soak.soak(trained_nlp, texts, n_docs=300, every=100, batch_size=32, memory_zone=True)
    assert [row["docs"] for row in rows] == [0, 100, 200, 300]
    assert len({row["strings"] for row in rows}) == 1
    summary = soak.summarize(rows, 100)
    assert summary["warmup_docs"] == 100 and summary["docs_per_s"] > 0
