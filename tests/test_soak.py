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


def test_each_training_step_returns_freed_heap_memory(
    monkeypatch, tiny_model_dir, ner_records, emotion_records
):
    """Training on CPU fragments glibc's heap (RSS grew to 11 GB over 1,000 steps): each
    update of beto_transformer first trims the heap; the update itself is unchanged."""
    from spacy_beto.components import transformer

    from .conftest import build_pipeline, make_examples

    calls = []
    real_trim = transformer._trim_heap
    monkeypatch.setattr(transformer, "_trim_heap", lambda: calls.append(1) or real_trim())
    nlp = build_pipeline(tiny_model_dir)
    examples = make_examples(nlp, ner_records[:8], emotion_records[:8])
    optimizer = nlp.initialize(lambda: examples)
    for step in range(3):
        losses = nlp.update(examples, sgd=optimizer)
        assert len(calls) == step + 1
    assert losses["transformer"] > 0 and losses["ner"] > 0
