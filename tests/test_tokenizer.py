"""BETO tokenizer pitfalls: case and accents kept, pad id from the tokenizer, 512-piece windows."""

import json

import numpy
import pytest
import spacy
from transformers import AutoTokenizer

from spacy_beto import BetoConfigError
from spacy_beto.mini import BETO_SPECIAL_TOKENS

CASED = "El Árbol de Guernica y la Ñandú Ibáñez"


def init_transformer(model_dir, **model_cfg):
    nlp = spacy.blank("es")
    trf = nlp.add_pipe("beto_transformer", config={"model": {"name": str(model_dir), **model_cfg}})
    nlp.initialize()
    return nlp, trf


def test_mini_builder_uses_beto_special_layout(tiny_model_dir):
    vocab = (tiny_model_dir / "vocab.txt").read_text(encoding="utf8").splitlines()
    assert tuple(vocab[:6]) == BETO_SPECIAL_TOKENS
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    assert (tok.mask_token_id, tok.pad_token_id, tok.unk_token_id) == (0, 1, 3)
    assert (tok.cls_token_id, tok.sep_token_id) == (4, 5)


def test_cased_text_keeps_capitals_and_accents(tiny_model_dir):
    nlp, trf = init_transformer(tiny_model_dir)
    pieces = trf.model.tokenizer.tokenize(CASED)
    joined = "".join(p[2:] if p.startswith("##") else p for p in pieces)
    assert "[UNK]" not in pieces
    assert joined == CASED.replace(" ", "")
    doc = nlp(CASED)
    strings = [s for row in doc._.trf_data.wordpieces.strings for s in row]
    assert "Á" in "".join(strings) and "Ñ" in "".join(strings)


def test_pad_id_comes_from_tokenizer(tiny_model_dir):
    _, trf = init_transformer(tiny_model_dir)
    assert trf.model.tokenizer.pad_token_id == 1
    hf = trf.model.transformer
    assert hf.config.pad_token_id == 1
    assert hf.get_input_embeddings().padding_idx == 1
    wp = trf.model.tokenizer(["uno", "uno dos tres cuatro"], padding="longest")
    assert wp["input_ids"][0][-1] == 1


def test_pad_id_fixed_when_config_says_zero(tiny_model_dir, tmp_path):
    model_dir = tmp_path / "model"
    for path in tiny_model_dir.iterdir():
        (model_dir / path.name).parent.mkdir(exist_ok=True)
        (model_dir / path.name).write_bytes(path.read_bytes())
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg["pad_token_id"] = 0  # BERT's default, as in BETO's own config.json
    (model_dir / "config.json").write_text(json.dumps(cfg))
    _, trf = init_transformer(model_dir)
    assert trf.model.transformer.config.pad_token_id == 1
    assert trf.model.transformer.get_input_embeddings().padding_idx == 1


def test_lowercasing_cased_model_fails_loudly(tiny_model_dir):
    with pytest.raises(BetoConfigError, match="do_lower_case = false"):
        init_transformer(tiny_model_dir, tokenizer_config={"do_lower_case": True})


def test_stripping_accents_fails_loudly(tiny_model_dir):
    with pytest.raises(BetoConfigError, match="strip_accents = false"):
        init_transformer(
            tiny_model_dir, tokenizer_config={"do_lower_case": False, "strip_accents": True}
        )


def test_max_length_above_positions_fails(tiny_model_dir):
    with pytest.raises(BetoConfigError, match="max_length = 512"):
        init_transformer(tiny_model_dir, max_length=1024)


def test_unreachable_model_name_explains_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BetoConfigError, match="local model directory"):
        init_transformer(tmp_path / "no-such-model")


def test_long_document_every_token_gets_a_vector(trained_nlp):
    words = "El Ayuntamiento de Málaga aprobó ayer el presupuesto de Ñuñoa".split()
    text = " ".join(words[i % len(words)] for i in range(1500))
    trf = trained_nlp.get_pipe("transformer")
    n_pieces = len(trf.model.tokenizer(text, verbose=False)["input_ids"])
    assert n_pieces > 3 * 512
    with trained_nlp.select_pipes(disable=["doc_cleaner"]):  # keep doc._.trf_data
        doc = trained_nlp(text)
    data = doc._.trf_data
    assert all(len(row) <= 512 for row in data.wordpieces.input_ids)
    lengths = data.align.lengths
    assert len(lengths) == len(doc) and (lengths > 0).all()
    ner = trained_nlp.get_pipe("ner")
    vectors = ner.model.get_ref("tok2vec").predict([doc])
    assert vectors.shape[0] == len(doc)
    assert (numpy.abs(vectors).sum(axis=1) > 0).all()


def test_window_that_exceeds_512_pieces_is_split_not_truncated(trained_nlp):
    # 128-token windows of 9-letter pieces: each window has far more than 512 pieces.
    token = "ab" * 20
    text = " ".join([f"{token}.{token}"] * 200)
    with trained_nlp.select_pipes(disable=["doc_cleaner"]):  # keep doc._.trf_data
        doc = trained_nlp(text)
    data = doc._.trf_data
    assert all(len(row) <= 512 for row in data.wordpieces.input_ids)
    assert (data.align.lengths > 0).all()
    assert all(len(ent.text) > 0 for ent in doc.ents)
