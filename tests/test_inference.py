"""Inference settings of beto_transformer and the release of doc._.trf_data by doc_cleaner.

Each setting leaves entities and categories unchanged. Settings are changed on pipelines loaded
from `saved_pipeline` (through `config={...}`), never on the shared `trained_nlp`.
"""

import gc
import threading

import numpy
import pytest
import spacy
import torch

from spacy_beto import BetoConfigError

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

# Each setting's non-default value.
SETTINGS = {
    "group_items": 0,
    "inference_mode": False,
    "max_batch_items": 64,  # many small sub-batches of documents, each with its own groups
    "prefetch": True,  # the next batch encoded in a background thread (auto: GPU only)
    "gc_threshold": 0,  # Python's garbage-collection thresholds left alone during nlp.pipe
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


def load(saved_pipeline, **settings):
    """A copy of the trained pipeline with the given beto_transformer settings."""
    return spacy.load(saved_pipeline, config={"components": {"transformer": settings}})


def bookkeeping_keys(doc):
    """user_data entries other than extension attribute values (e.g. doc._.trf_data)."""
    return [key for key in doc.user_data if not (isinstance(key, tuple) and key[0] == "._.")]


@pytest.fixture(scope="module")
def reference(trained_nlp):
    return annotations(trained_nlp, TEXTS)


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_each_setting_from_the_config_keeps_outputs(saved_pipeline, reference, setting):
    nlp = load(saved_pipeline, **{setting: SETTINGS[setting]})
    trf = nlp.get_pipe("transformer")
    value = trf.cfg[setting] if setting == "max_batch_items" else getattr(trf, setting)
    assert value == SETTINGS[setting]  # the config wins over what was saved
    assert_same(annotations(nlp, TEXTS), reference)


def test_all_settings_off_and_single_docs_match(trained_nlp, saved_pipeline):
    texts = [text for text in TEXTS if text]  # spaCy's textcat scores a lone empty doc 0
    with_all = annotations(trained_nlp, texts, batch_size=64)
    one_by_one = []
    for text in texts:
        doc = trained_nlp(text)
        one_by_one.append(
            (doc.text, [(e.start_char, e.end_char, e.label_) for e in doc.ents], dict(doc.cats))
        )
    assert_same(one_by_one, with_all)
    nlp = load(saved_pipeline, **SETTINGS)
    with nlp.select_pipes(disable=["doc_cleaner"]):
        assert_same(annotations(nlp, texts, batch_size=64), with_all)


def test_group_items_is_set_on_the_encoder_layer_at_construction_and_load(saved_pipeline):
    nlp = load(saved_pipeline, group_items=48)
    wrapper = nlp.get_pipe("transformer").model.layers[0]
    assert wrapper.attrs["group_items"] == 48  # not the 4096 saved with the model
    wrapper.attrs["group_items"] = 7
    nlp("Ana llegó a Lima.")
    assert wrapper.attrs["group_items"] == 7  # predict does not write it again


def test_settings_are_validated(tiny_model_dir):
    nlp = spacy.blank("es")
    model = {"name": str(tiny_model_dir)}
    with pytest.raises(BetoConfigError, match="quantize = 'int4' is not supported"):
        nlp.add_pipe("beto_transformer", config={"model": model, "quantize": "int4"})
    with pytest.raises(BetoConfigError, match="group_items must be 0 .* got -1"):
        nlp.add_pipe("beto_transformer", config={"model": model, "group_items": -1})
    trf = nlp.add_pipe(
        "beto_transformer", config={"model": model, "inference_mode": False, "group_items": 0}
    )
    assert (trf.inference_mode, trf.group_items, trf.quantize) == (False, 0, None)
    cfg = nlp.config["components"]["beto_transformer"]
    assert (cfg["inference_mode"], cfg["group_items"], cfg["quantize"]) == (False, 0, None)


def test_trf_data_dropped_by_doc_cleaner(trained_nlp):
    assert trained_nlp.pipe_names[-1] == "doc_cleaner"
    docs = list(trained_nlp.pipe(TEXTS[:6]))
    assert all(doc._.trf_data is None for doc in docs)
    assert all(bookkeeping_keys(doc) == [] for doc in docs)


@pytest.mark.parametrize("disabled", [["textcat"], ["ner"], ["ner", "textcat"]])
def test_trf_data_dropped_with_heads_disabled(trained_nlp, reference, disabled):
    with trained_nlp.select_pipes(disable=disabled):
        docs = list(trained_nlp.pipe(TEXTS, batch_size=5))
    assert all(doc._.trf_data is None for doc in docs)
    assert all(bookkeeping_keys(doc) == [] for doc in docs)
    for doc, (text, ents, cats) in zip(docs, reference):
        assert doc.text == text
        if "ner" not in disabled:
            assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == ents
        if "textcat" not in disabled:
            assert doc.cats == pytest.approx(cats, abs=1e-6)


def test_trf_data_kept_when_doc_cleaner_is_disabled(trained_nlp, reference):
    with trained_nlp.select_pipes(disable=["doc_cleaner"]):
        docs = list(trained_nlp.pipe(TEXTS[:6]))
    assert all(doc._.trf_data is not None for doc in docs)
    assert all(doc._.trf_data.tensors for doc in docs if len(doc))
    got = [(d.text, [(e.start_char, e.end_char, e.label_) for e in d.ents], d.cats) for d in docs]
    assert_same(got, reference[:6])


def test_trf_data_kept_without_doc_cleaner(tiny_model_dir):
    nlp = spacy.blank("es")
    nlp.add_pipe("beto_transformer", config={"model": {"name": str(tiny_model_dir)}})
    nlp.initialize()
    doc = nlp("Sin doc_cleaner, los datos se quedan.")
    assert doc._.trf_data is not None and doc._.trf_data.tensors


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


def test_windows_in_small_groups_keep_outputs(saved_pipeline):
    """Many encoder calls per batch (small groups) give what one padded call gives."""
    one_call = annotations(load(saved_pipeline, group_items=0), TEXTS, batch_size=16)
    grouped = annotations(load(saved_pipeline, group_items=48), TEXTS, batch_size=16)
    assert_same(grouped, one_call)


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "beto-transformer-prefetch"]


def test_device_aware_defaults_on_cpu(saved_pipeline):
    from spacy_beto.components.transformer import CPU_BATCH_ITEMS
    from spacy_beto.layers.grouping import GROUP_ITEMS

    nlp = load(saved_pipeline, max_batch_items=None, group_items=None, prefetch=None)
    trf = nlp.get_pipe("transformer")
    assert not trf.on_gpu()
    assert trf.batch_items == CPU_BATCH_ITEMS
    assert trf.model.layers[0].attrs["group_items"] == GROUP_ITEMS
    assert not trf.uses_prefetch()
    trf.prefetch = True
    assert trf.uses_prefetch()


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_prefetch_keeps_outputs_and_order(saved_pipeline, reference, batch_size):
    nlp = load(saved_pipeline, prefetch=True)
    got = annotations(nlp, TEXTS, batch_size=batch_size)
    assert_same(got, reference)  # order: texts compared one by one
    assert prefetch_threads() == []


def test_prefetch_reraises_an_encoder_error_in_the_caller(saved_pipeline):
    nlp = load(saved_pipeline, prefetch=True)
    trf = nlp.get_pipe("transformer")
    predict = trf.predict
    calls = []

    def failing(docs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("encoder broke on batch 3")
        return predict(docs)

    trf.predict = failing  # this loaded copy only
    docs = []
    with pytest.raises(RuntimeError, match="encoder broke on batch 3"):
        for doc in nlp.pipe(TEXTS, batch_size=2):
            docs.append(doc)
    assert len(docs) == 4  # batches 1 and 2 came through, in order
    assert [d.text for d in docs] == TEXTS[:4]
    assert prefetch_threads() == []


def test_prefetch_leaves_no_thread_when_closed_early(saved_pipeline):
    nlp = load(saved_pipeline, prefetch=True)
    stream = nlp.pipe(TEXTS * 4, batch_size=2)
    first = next(stream)
    assert first.text == TEXTS[0]
    assert len(prefetch_threads()) == 1
    stream.close()
    assert prefetch_threads() == []


def test_bf16_encoder_keeps_most_outputs_and_fp32_heads(saved_pipeline, reference):
    nlp = load(saved_pipeline, precision="bf16")
    trf = nlp.get_pipe("transformer")
    from spacy_beto._compat import torch_module

    dtypes = {p.dtype for p in torch_module(trf.model.layers[0]).parameters()}
    assert dtypes == {torch.bfloat16}
    with nlp.select_pipes(disable=["doc_cleaner"]):
        doc = nlp("Ana llegó a Lima.")
    assert doc._.trf_data.model_output.last_hidden_state.dtype == numpy.float32
    got = annotations(nlp, TEXTS)
    same = sum(
        ents == ents2 and max(cats, key=cats.get) == max(cats2, key=cats2.get)
        for (_, ents, cats), (_, ents2, cats2) in zip(got, reference)
        if cats
    )
    # bf16 keeps ~3 significant digits: a tiny model's near-ties may flip, most must not.
    assert same >= 0.75 * sum(1 for *_, cats in reference if cats)
    with pytest.raises(BetoConfigError, match="in bf16 for inference"):
        nlp.to_bytes()


def test_precision_is_validated(tiny_model_dir):
    nlp = spacy.blank("es")
    model = {"name": str(tiny_model_dir)}
    with pytest.raises(BetoConfigError, match="precision = 'fp8' is not supported"):
        nlp.add_pipe("beto_transformer", config={"model": model, "precision": "fp8"})
    with pytest.raises(BetoConfigError, match="needs precision"):
        nlp.add_pipe(
            "beto_transformer", config={"model": model, "precision": "bf16", "quantize": "int8"}
        )


@pytest.fixture()
def python_gc_thresholds():
    """Python's thresholds around a test, restored after it (a failing test leaves none)."""
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_gc_threshold_is_raised_while_pipe_runs_and_restored(saved_pipeline, python_gc_thresholds):
    from spacy_beto.components.transformer import GC_THRESHOLD

    nlp = load(saved_pipeline)
    seen = [gc.get_threshold() for _ in nlp.pipe(TEXTS[:5], batch_size=2)]
    # Raised while the transformer still has docs to encode (the heads downstream pull the
    # last batch to its end before they hand it on).
    assert seen[:4] == [(GC_THRESHOLD, 10, 10)] * 4
    assert gc.get_threshold() == (700, 10, 10)
    # Two pipes at once share one raise; it ends when the last one is closed.
    first, second = nlp.pipe(TEXTS, batch_size=2), nlp.pipe(TEXTS, batch_size=2)
    next(first), next(second)
    first.close()
    assert gc.get_threshold() == (GC_THRESHOLD, 10, 10)
    second.close()
    assert gc.get_threshold() == (700, 10, 10)
    # A threshold the user sets meanwhile is kept; 0 leaves Python's thresholds alone.
    stream = nlp.pipe(TEXTS, batch_size=2)
    next(stream)
    gc.set_threshold(5000, 10, 10)
    stream.close()
    assert gc.get_threshold() == (5000, 10, 10)
    gc.set_threshold(700, 10, 10)
    off = load(saved_pipeline, gc_threshold=0)
    assert {gc.get_threshold() for _ in off.pipe(TEXTS[:3])} == {(700, 10, 10)}
    with pytest.raises(BetoConfigError, match="gc_threshold must be 0"):
        load(saved_pipeline, gc_threshold=-1)
