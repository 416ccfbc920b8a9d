"""fast_alignment gives exactly spacy-transformers' offset-mapping alignment."""

import json

import numpy
import pytest
import spacy
from spacy_transformers.align import get_alignment_via_offset_mapping
from spacy_transformers.span_getters import configure_strided_spans
from transformers import AutoTokenizer

from spacy_beto.layers.fast_align import fast_alignment

from .conftest import CORPUS

ODD = [
    "Hola  mundo,\n\n¿qué tal?  ",
    "can't won't U.S.A. 1.000,50 € e-mail: ana@x.es http://a.b/c?d=1",
    "Texto con\u200bzero\u00adwidth y \x00 nulo 🎉🎉 emoji",
    " ",
    "",
    "Una frase muy larga " * 40,
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def corpus_texts(n: int):
    with (CORPUS / "ner" / "train.jsonl").open(encoding="utf8") as fileh:
        texts = [json.loads(line)["text"] for line, _ in zip(fileh, range(n))]
    with (CORPUS / "emotion" / "train.jsonl").open(encoding="utf8") as fileh:
        texts += [json.loads(line)["text"] for line, _ in zip(fileh, range(n))]
    return texts


@pytest.mark.parametrize("window,stride", [(128, 96), (8, 6), (5, 5)])
def test_fast_alignment_equals_spacy_transformers(tokenizer, window, stride):
    nlp = spacy.blank("es")
    docs = list(nlp.pipe(corpus_texts(60) + ODD))
    docs.append(docs[0])  # the same Doc twice in a batch
    spans = [s for doc_spans in configure_strided_spans(window, stride)(docs) for s in doc_spans]
    enc = tokenizer(
        [s.text for s in spans],
        return_offsets_mapping=True,
        return_tensors="np",
        padding="longest",
    )
    expected = get_alignment_via_offset_mapping(spans, enc["offset_mapping"])
    got = fast_alignment(spans, enc["offset_mapping"])
    numpy.testing.assert_array_equal(got.lengths, expected.lengths)
    numpy.testing.assert_array_equal(got.data, expected.data)


def test_offset_split_batch_equals_split_by_doc(tiny_model_dir):
    from spacy_beto.layers.fast_align import OffsetSplitBatch, doc_texts

    nlp = spacy.blank("es")
    trf = nlp.add_pipe("beto_transformer", config={"model": {"name": str(tiny_model_dir)}})
    nlp.initialize()
    docs = [nlp.make_doc(t) for t in corpus_texts(20) + ODD]
    batch = trf.model.predict(docs)
    spans = [s for doc_spans in batch.spans for s in doc_spans]
    assert doc_texts(spans) == [s.text for s in spans]
    fields = ("spans", "wordpieces", "model_output", "align")
    fast = OffsetSplitBatch(**{f: getattr(batch, f) for f in fields})
    wanted, fast_split = batch.split_by_doc(), fast.split_by_doc()
    assert len(fast_split) == len(wanted) == len(docs)
    for want, got in zip(wanted, fast_split):
        numpy.testing.assert_array_equal(got.align.data, want.align.data)
        numpy.testing.assert_array_equal(got.align.lengths, want.align.lengths)
        numpy.testing.assert_array_equal(got.wordpieces.input_ids, want.wordpieces.input_ids)
        assert set(got.model_output) == set(want.model_output)
        for key in want.model_output:
            numpy.testing.assert_array_equal(got.model_output[key], want.model_output[key])
