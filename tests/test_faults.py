"""Faults give errors that name the cause and the fix."""

import shutil

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_beto import BetoConfigError, CorpusError

from .conftest import build_pipeline, make_examples


def init_transformer(name):
    nlp = spacy.blank("es")
    nlp.add_pipe("beto_transformer", config={"model": {"name": str(name)}})
    nlp.initialize()
    return nlp


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    path = tmp_path / "model"
    shutil.copytree(tiny_model_dir, path)
    return path


def test_missing_model_directory(tmp_path):
    with pytest.raises(BetoConfigError, match="'.*no-such-model'.*does not exist.*build-mini"):
        init_transformer(tmp_path / "no-such-model")


def test_model_path_that_is_a_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\0")
    with pytest.raises(BetoConfigError, match="is a file, not a transformer directory"):
        init_transformer(path)


def test_truncated_weights(model_copy):
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4000])
    with pytest.raises(BetoConfigError, match="truncated or corrupt.*copy the model again"):
        init_transformer(model_copy)


def test_corrupt_config_json(model_copy):
    (model_copy / "config.json").write_text('{"model_type": "bert", ')
    with pytest.raises(BetoConfigError, match="config.json' is corrupt: not valid JSON"):
        init_transformer(model_copy)


@pytest.mark.parametrize(
    "remove,message",
    [
        ("config.json", "has no config.json"),
        ("model.safetensors", "has no weights file"),
        (("tokenizer.json", "vocab.txt"), "has no tokenizer"),
    ],
)
def test_incomplete_model_directory(model_copy, remove, message):
    for name in [remove] if isinstance(remove, str) else remove:
        (model_copy / name).unlink()
    with pytest.raises(BetoConfigError, match=message):
        init_transformer(model_copy)


def test_hub_name_unreachable_offline(monkeypatch):
    # HF_HUB_OFFLINE is read at import time: set the flags the libraries already read.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("transformers.utils.hub._is_offline_mode", True)
    with pytest.raises(BetoConfigError, match="Hugging Face hub.*local model directory"):
        init_transformer("dccuchile/no-such-beto-model")


def test_vocabulary_larger_than_embedding_matrix(model_copy):
    (model_copy / "tokenizer.json").unlink()  # the tokenizer is rebuilt from vocab.txt
    with (model_copy / "vocab.txt").open("a", encoding="utf8") as fileh:
        fileh.write("".join(f"extra{i}\n" for i in range(50)))
    with pytest.raises(BetoConfigError, match="embedding matrix has only .* rows.*vocab.txt"):
        init_transformer(model_copy)


def test_truncated_spacy_file_names_the_file(tmp_path):
    nlp = spacy.blank("es")
    path = tmp_path / "train.spacy"
    DocBin(docs=[nlp(f"Texto número {i} de Madrid.") for i in range(50)]).to_disk(path)
    path.write_bytes(path.read_bytes()[:-40])
    reader = spacy.registry.readers.get("spacy-beto.Corpus.v1")(path=path, gold_preproc=False)
    with pytest.raises(CorpusError, match="train.spacy: not a readable .spacy file.*convert"):
        list(reader(nlp))


def test_missing_corpus_path(tmp_path):
    reader = spacy.registry.readers.get("spacy-beto.Corpus.v1")
    with pytest.raises(CorpusError, match="no such .spacy file.*convert"):
        reader(path=tmp_path / "train.spacy", gold_preproc=False)


@pytest.mark.parametrize(
    "component,labels,missing",
    [
        ("textcat", ["joy", "sadness", "nostalgia"], "nostalgia"),
        ("ner", ["PER", "ORG", "LOC", "MISC", "DATE"], "DATE"),
    ],
)
def test_configured_label_missing_from_data(
    tiny_model_dir, ner_records, emotion_records, component, labels, missing
):
    nlp = build_pipeline(tiny_model_dir)
    examples = make_examples(nlp, ner_records[:20], emotion_records[:20])
    nlp.config["initialize"]["components"][component] = {"labels": labels}
    with pytest.raises(BetoConfigError, match=rf"labels \['{missing}'\].*no training example"):
        nlp.initialize(lambda: examples)


def test_window_limit_edited_beyond_positions_fails_on_load(saved_pipeline, tmp_path):
    path = tmp_path / "nlp"
    shutil.copytree(saved_pipeline, path)
    cfg = path / "config.cfg"
    cfg.write_text(cfg.read_text().replace("max_length = 512", "max_length = 1024"))
    with pytest.raises(BetoConfigError, match="1024 word pieces.*512 positions.*max_length = 512"):
        spacy.load(path)


def test_window_limit_edited_below_positions_is_honoured(saved_pipeline, tmp_path):
    path = tmp_path / "nlp"
    shutil.copytree(saved_pipeline, path)
    cfg = path / "config.cfg"
    cfg.write_text(cfg.read_text().replace("max_length = 512", "max_length = 64"))
    nlp = spacy.load(path, exclude=["doc_cleaner"])  # keep doc._.trf_data to read the windows
    doc = nlp(" ".join(["Málaga"] * 300))
    assert max(len(row) for row in doc._.trf_data.wordpieces.input_ids) <= 64
    assert (doc._.trf_data.align.lengths > 0).all()


def test_truncated_saved_pipeline(saved_pipeline, tmp_path):
    path = tmp_path / "nlp"
    shutil.copytree(saved_pipeline, path)
    weights = path / "transformer" / "model"
    weights.write_bytes(weights.read_bytes()[: len(weights.read_bytes()) // 2])
    with pytest.raises(BetoConfigError, match="saved pipeline is incomplete or corrupt"):
        spacy.load(path)
