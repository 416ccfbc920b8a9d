"""The upstream internals spacy_beto relies on (spacy_beto/_compat.py), one test per contract.

Each `check_*` function raises AssertionError when an assumption no longer holds; the tests run
them on the installed spaCy, spacy-transformers, thinc and torch, and the last tests show that
a changed upstream makes a check fail.
"""

import inspect
import warnings

import pytest
import spacy
import torch
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import EntityRecognizer, TextCategorizer
from spacy.training import Example
from spacy_transformers import Transformer
from spacy_transformers.layers import TransformerModel
from spacy_transformers.layers.listener import TransformerListener
from thinc.api import Model

from spacy_beto import _compat


def strided_spans():
    return spacy.registry.span_getters.get("spacy-transformers.strided_spans.v1")(
        window=16, stride=12
    )


def check_thinc_forward_slot() -> None:
    assert "_func" in Model.__slots__
    model: Model[int, int] = Model("probe", lambda model, X, is_train: (X, lambda dY: dY))
    _compat.set_forward(model, lambda model, X, is_train: (X + 1, lambda dY: dY))
    assert model.predict(1) == 2


def check_wrapped_forwards() -> None:
    model = TransformerModel("probe", strided_spans())
    assert model._func is _compat.transformer_model_forward
    assert model.layers[0]._func is _compat.pytorch_wrapper_forward
    params = list(inspect.signature(_compat.transformer_model_forward).parameters)
    assert params == ["model", "docs", "is_train"]
    assert list(inspect.signature(_compat.pytorch_wrapper_forward).parameters) == [
        "model",
        "X",
        "is_train",
    ]


def check_forward_reads_get_spans() -> None:
    # layers/span_fitting.py replaces attrs["get_spans"]; the forward must read it from there.
    assert 'model.attrs["get_spans"]' in inspect.getsource(_compat.transformer_model_forward)


def check_hf_shim_fields(trf_model: TransformerModel) -> None:
    wrapper = trf_model.layers[0]
    hf = _compat.hf_objects(wrapper)
    assert hf.tokenizer is trf_model.tokenizer
    assert hf.transformer is trf_model.transformer
    assert _compat.torch_module(wrapper) is trf_model.transformer
    assert isinstance(_compat.torch_module(wrapper), torch.nn.Module)


def check_listener_protocol(listener_cls: type = TransformerListener) -> None:
    listener = listener_cls("transformer")
    outputs, backprop = ["outputs"], lambda d: d
    listener.receive(7, outputs, backprop)
    assert (listener._batch_id, listener._outputs, listener._backprop) == (7, outputs, backprop)
    _compat.clear_listener(listener)
    assert (listener._batch_id, listener._outputs, listener._backprop) == (None, None, None)
    # The Transformer side: __reduce__ clears every listener in `listeners`.
    for name in ("listeners", "listening_components", "add_listener", "find_listeners"):
        assert hasattr(Transformer, name), name


def check_textcat_hooks(textcat_cls: type = TextCategorizer) -> None:
    calls = []

    class Probe(textcat_cls):
        def _validate_categories(self, examples):
            calls.append("_validate_categories")
            return super()._validate_categories(examples)

        def _examples_to_truth(self, examples):
            calls.append("_examples_to_truth")
            truth = super()._examples_to_truth(examples)
            assert isinstance(truth, tuple) and len(truth) == 2  # (truths, not_missing)
            return truth

    nlp = spacy.blank("es")
    model = {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True}
    model.update({"ngram_size": 1, "no_output_layer": False})
    template = nlp.add_pipe("textcat", config={"model": model})
    assert isinstance(template, TextCategorizer)
    textcat = Probe(nlp.vocab, template.model, "textcat", threshold=0.5, scorer=None)
    doc = nlp.make_doc("¡Qué alegría!")
    doc.cats = {"joy": 1.0, "sadness": 0.0}
    examples = [Example(nlp.make_doc(doc.text), doc)]
    textcat.initialize(lambda: examples, nlp=nlp)
    assert calls.count("_validate_categories") == 1 and "_examples_to_truth" in calls
    calls.clear()
    textcat.update(examples)
    # update validates first; get_loss (which beto_textcat overrides) uses both.
    assert calls[0] == "_validate_categories" and "_examples_to_truth" in calls


def check_error_codes() -> None:
    assert "E851" in str(_compat.textcat_value_error(0.5))
    assert "0.5" in str(_compat.textcat_value_error(0.5))
    assert "E895" in str(_compat.textcat_exclusive_error({"a": 1.0, "b": 1.0}))
    assert "E851" in dir(Errors) and "E895" in dir(Errors)


def check_transition_system() -> None:
    ner = spacy.blank("es").add_pipe("ner")
    assert isinstance(ner, EntityRecognizer)
    assert isinstance(ner.moves, _compat.TransitionSystem)
    ner_factory = inspect.signature(spacy.registry.factories.get("ner"))
    assert "moves" in ner_factory.parameters


def check_replace_listeners_attrs() -> None:
    # spaCy's replace_listeners builds the replacing tok2vec from these model attrs.
    source = inspect.getsource(Language.replace_listeners)
    assert '"replace_listener_cfg"' in source and '"replace_listener"' in source
    attrs = TransformerModel("probe", strided_spans()).attrs
    assert "replace_listener_cfg" in attrs and "replace_listener" in attrs


def check_memory_zone_protocol() -> None:
    entered = []

    class Component:
        def __call__(self, doc):
            return doc

        def memory_zone(self, mem=None):
            import contextlib

            entered.append(mem)
            return contextlib.nullcontext()

    if not Language.has_factory("probe_memory_zone"):
        Language.component("probe_memory_zone", func=Component())
    nlp = spacy.blank("es")
    nlp.add_pipe("probe_memory_zone")
    with nlp.memory_zone():
        nlp("hola")
    assert len(entered) == 1


def check_doc_cleaner() -> None:
    # Through a pipeline: spaCy registers its built-in factories lazily, so the factory meta
    # exists only once a pipeline has been created.
    nlp = spacy.blank("es")
    nlp.add_pipe("doc_cleaner")
    assert nlp.get_pipe_config("doc_cleaner")["attrs"].get("_.trf_data", "missing") is None


def check_pipe_calls_predict(nlp: Language) -> None:
    trf = nlp.get_pipe("transformer")
    assert isinstance(trf, Transformer)
    calls = []
    predict = trf.predict

    def recording(docs):
        calls.append(len(list(docs)))
        return predict(docs)

    trf.predict = recording  # type: ignore[method-assign]  # this loaded copy only
    docs = list(nlp.pipe(["Ana llegó a Lima.", "Hoy", "Pedro vive en Madrid."], batch_size=2))
    assert sum(calls) == len(docs) == 3


def check_quantize_dynamic() -> None:
    module = torch.nn.Sequential(torch.nn.Linear(4, 4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quantized = _compat.quantize_dynamic_int8(module)
        quantized(torch.ones(1, 4))
    assert "quantized" in type(quantized[0]).__module__
    assert [str(w.message) for w in caught] == []


def test_thinc_model_keeps_its_forward_in_the_func_slot():
    check_thinc_forward_slot()


def test_wrapped_forwards_are_the_upstream_defaults():
    check_wrapped_forwards()


def test_transformer_forward_reads_get_spans_from_attrs():
    check_forward_reads_get_spans()


def test_hf_shim_holds_hfobjects_and_torch_module(trained_nlp):
    check_hf_shim_fields(trained_nlp.get_pipe("transformer").model)


def test_listener_protocol_fields_and_receive():
    check_listener_protocol()


def test_textcat_calls_the_hooks_beto_textcat_overrides():
    check_textcat_hooks()


def test_textcat_error_codes_exist():
    check_error_codes()


def test_transition_system_import_path():
    check_transition_system()


def test_replace_listeners_reads_model_attrs():
    check_replace_listeners_attrs()


def test_memory_zone_enters_component_memory_zones():
    check_memory_zone_protocol()


def test_doc_cleaner_drops_trf_data_by_default():
    check_doc_cleaner()


def test_transformer_pipe_calls_our_predict(saved_pipeline):
    check_pipe_calls_predict(spacy.load(saved_pipeline))


def test_quantize_dynamic_int8_without_warnings():
    check_quantize_dynamic()


def check_beam_batch() -> None:
    nlp = spacy.blank("es")
    ner = nlp.add_pipe("ner")
    assert isinstance(ner, EntityRecognizer)
    ner.add_label("PER")
    nlp.initialize()
    docs = [nlp.make_doc("Juan vive en Madrid")]
    beams = _compat.beam_batch(ner.moves, ner.moves.init_batch(docs), 4)
    assert len(beams) == 1 and not beams.is_done


def test_beam_batch_builds_a_beam_over_parse_states():
    check_beam_batch()


# A changed upstream fails the check for it.


def test_listener_check_fails_if_receive_changes(monkeypatch):
    def receive(self, batch_id, outputs, backprop):  # e.g. renamed private fields
        self.batch_id, self.outputs, self.backprop = batch_id, outputs, backprop

    monkeypatch.setattr(TransformerListener, "receive", receive)
    with pytest.raises(AssertionError):
        check_listener_protocol()


def test_textcat_check_fails_if_update_stops_calling_the_hook(monkeypatch):
    original = TextCategorizer.update

    def update(self, examples, **kwargs):
        monkeypatch.setattr(self, "_validate_categories", lambda examples: None)
        return original(self, examples, **kwargs)

    monkeypatch.setattr(TextCategorizer, "update", update)
    with pytest.raises(AssertionError):
        check_textcat_hooks()


def test_forward_check_fails_if_the_upstream_forward_is_replaced(monkeypatch):
    monkeypatch.setattr(_compat, "transformer_model_forward", lambda model, docs, is_train: None)
    with pytest.raises(AssertionError):
        check_wrapped_forwards()


ODD_TEXTS = [
    "Hola  mundo,\n\n¿qué tal?  ",
    "can't won't U.S.A. 1.000,50 € e-mail: ana@x.es http://a.b/c?d=1",
    "Texto con zero\u00adwidth 🎉🎉 emoji y acentos: canción, pingüino, ÁÉÍÓÚ",
    " ",
    "",
    "Una frase muy larga con Gustavo Petro en Madrid. " * 30,
    "El presidente Gustavo Petro viajó a Madrid con la delegación de Ecopetrol.",
]


def check_forward_matches_upstream(nlp: Language) -> None:
    """layers/alignment.py re-assembles transformer_model.forward from upstream pieces: on odd
    texts (double spaces, newlines, emoji, empty docs, windows split for length) it must give
    the same FullTransformerBatch as upstream's forward (wordpieces, alignment, outputs)."""
    import numpy

    from spacy_beto.layers.alignment import forward as beto_forward

    trf = nlp.get_pipe("transformer")
    assert isinstance(trf, Transformer)
    model = trf.model
    assert isinstance(model, TransformerModel)
    docs = list(nlp.make_doc(text) for text in ODD_TEXTS)
    docs.append(docs[-1])  # the same Doc twice in a batch
    with torch.inference_mode():
        ours, _ = beto_forward(model, docs, False)
        theirs, _ = _compat.transformer_model_forward(model, docs, False)
    assert [[(s.start, s.end) for s in d] for d in ours.spans] == [
        [(s.start, s.end) for s in d] for d in theirs.spans
    ]
    assert ours.wordpieces.strings == theirs.wordpieces.strings
    numpy.testing.assert_array_equal(ours.wordpieces.input_ids, theirs.wordpieces.input_ids)
    numpy.testing.assert_array_equal(
        ours.wordpieces.attention_mask, theirs.wordpieces.attention_mask
    )
    assert ours.wordpieces.lengths == theirs.wordpieces.lengths
    numpy.testing.assert_array_equal(ours.align.lengths, theirs.align.lengths)
    numpy.testing.assert_array_equal(ours.align.data, theirs.align.data)
    assert list(ours.model_output.keys()) == list(theirs.model_output.keys())
    torch.testing.assert_close(
        ours.model_output["last_hidden_state"], theirs.model_output["last_hidden_state"]
    )


@pytest.mark.parametrize("fast_pieces", [True, False])
def test_forward_matches_upstream_forward(saved_pipeline, monkeypatch, fast_pieces):
    # A loaded copy: the upstream forward's align_dropped_tokens is not applied, and there are
    # no zero-width/control-only tokens in ODD_TEXTS, so both alignments must agree exactly.
    # Without fast word pieces: forward's upstream-tokenization path (a tokenizer that
    # fast_wordpieces declines, e.g. one with truncation set).
    if not fast_pieces:
        import spacy_beto.layers.alignment as alignment

        monkeypatch.setattr(alignment, "fast_wordpieces", lambda tokenizer, texts: None)
    check_forward_matches_upstream(spacy.load(saved_pipeline))


def test_forward_check_fails_if_an_upstream_piece_changes(saved_pipeline, monkeypatch):
    import spacy_beto.layers.alignment as alignment

    real = alignment.truncate_oversize_splits
    monkeypatch.setattr(
        alignment,
        "truncate_oversize_splits",
        lambda wps, align, max_len: real(wps, align, max(max_len // 4, 8)),
    )
    with pytest.raises(AssertionError):
        check_forward_matches_upstream(spacy.load(saved_pipeline))


def test_fast_wordpieces_match_upstream_tokenization(saved_pipeline):
    """fast_tokenize.fast_wordpieces gives what huggingface_tokenize + from_batch_encoding give
    (strings, ids, mask, type ids, lengths, offsets), whether or not an upstream call left
    "longest" padding set on the Rust backend; with truncation set there it steps aside."""
    import numpy
    from spacy_transformers.data_classes import WordpieceBatch

    from spacy_beto.layers.fast_tokenize import fast_wordpieces

    tokenizer = spacy.load(saved_pipeline).get_pipe("transformer").model.tokenizer
    texts = [t for t in ODD_TEXTS if t] + ["[PAD] [CLS] pingüino", "x"]
    for backend_padding in (False, True):
        if not backend_padding:
            tokenizer.backend_tokenizer.no_padding()
        encoding = _compat.huggingface_tokenize(tokenizer, texts)  # leaves padding set
        theirs = WordpieceBatch.from_batch_encoding(encoding)
        if not backend_padding:
            tokenizer.backend_tokenizer.no_padding()
        assert (tokenizer.backend_tokenizer.padding is not None) == backend_padding
        fast = fast_wordpieces(tokenizer, texts)
        assert fast is not None
        ours, offsets = fast
        assert ours.strings == theirs.strings
        numpy.testing.assert_array_equal(ours.input_ids, theirs.input_ids)
        assert ours.input_ids.dtype == theirs.input_ids.dtype
        numpy.testing.assert_array_equal(ours.attention_mask, theirs.attention_mask)
        assert ours.attention_mask.dtype == theirs.attention_mask.dtype
        numpy.testing.assert_array_equal(ours.token_type_ids, theirs.token_type_ids)
        numpy.testing.assert_array_equal(offsets, encoding["offset_mapping"])
        # Non-"[PAD]" strings, as upstream counts them (a literal "[PAD]" is not counted).
        assert ours.lengths == theirs.lengths
        assert tokenizer.pad_token_id in ours.input_ids[ours.attention_mask == 1]
    tokenizer.backend_tokenizer.enable_truncation(8)
    try:
        assert fast_wordpieces(tokenizer, texts) is None  # upstream's path resets it
    finally:
        tokenizer.backend_tokenizer.no_truncation()
