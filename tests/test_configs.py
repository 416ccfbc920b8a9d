"""Every training config validates (`spacy debug config`) and trains a few steps on a local
BERT with BETO's layout: configs/beto.cfg cannot download real BETO here, so it gets the tiny
model in place of `dccuchile/bert-base-spanish-wwm-cased`."""

import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_beto.corpus.convert import CONLL_LABELS, EMOTION_LABELS, ner_doc, textcat_doc

from .conftest import ROOT

CONFIGS = sorted((ROOT / "configs").glob("*.cfg"))


# Per config: its extra components and their labels; they also get OFF/NO categories on two
# thirds of the emotion documents (mini-offensive.cfg).
EXTRA_HEADS = {"mini-offensive.cfg": {"offensive": {"NO", "OFF"}}}
# The entity head of each config that does not use the default, beto_token_ner.
NER_FACTORY = {"mini-transition-ner.cfg": "beto_ner"}


@pytest.fixture(scope="module")
def corpus_dirs(tmp_path_factory, ner_records, emotion_records):
    """{"plain": dir, "offensive": dir}, each with train/ and dev/ NER and emotion .spacy files;
    in "offensive" most emotion documents also carry OFF/NO."""
    nlp = spacy.blank("es")
    roots = {}
    for kind in ("plain", "offensive"):
        root = roots[kind] = tmp_path_factory.mktemp(f"corpus-{kind}")
        for split, sl in (("train", slice(0, 30)), ("dev", slice(30, 40))):
            (root / split).mkdir()
            ner = [ner_doc(nlp, r, "ner", CONLL_LABELS) for r in ner_records[sl]]
            emo = [textcat_doc(nlp, r, "emo", EMOTION_LABELS) for r in emotion_records[sl]]
            if kind == "offensive":
                for i, doc in enumerate(emo):
                    if i % 3:
                        doc.cats = {**doc.cats, "OFF": float(i % 3 == 1), "NO": float(i % 3 == 2)}
            DocBin(docs=ner).to_disk(root / split / "ner.spacy")
            DocBin(docs=emo).to_disk(root / split / "emotion.spacy")
    return roots


def overrides(config, corpus_dirs, tiny_model_dir):
    corpus_dirs = corpus_dirs["offensive" if config.name in EXTRA_HEADS else "plain"]
    return [
        "--paths.train_ner", str(corpus_dirs / "train" / "ner.spacy"),
        "--paths.train_textcat", str(corpus_dirs / "train" / "emotion.spacy"),
        "--paths.dev", str(corpus_dirs / "dev"),
        "--paths.transformer", str(tiny_model_dir),
    ]  # fmt: skip


def test_configs_exist():
    assert {p.name for p in CONFIGS} >= {"mini.cfg", "beto.cfg", "mini-offensive.cfg"}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_debug_config(config, corpus_dirs, tiny_model_dir):
    cmd = [sys.executable, "-m", "spacy", "debug", "config", str(config)]
    result = subprocess.run(
        cmd + overrides(config, corpus_dirs, tiny_model_dir), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config is valid" in result.stdout


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_trains_a_few_steps(config, corpus_dirs, tiny_model_dir, tmp_path):
    cmd = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(tmp_path)]
    cmd += overrides(config, corpus_dirs, tiny_model_dir)
    cmd += ["--training.max_steps", "4", "--training.eval_frequency", "2"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    nlp = spacy.load(tmp_path / "model-last")
    extra = EXTRA_HEADS.get(config.name, {})
    assert nlp.pipe_names == ["transformer", "ner", "textcat", *extra, "doc_cleaner"]
    assert [nlp.get_pipe_meta(n).factory for n in nlp.pipe_names] == [
        "beto_transformer",
        NER_FACTORY.get(config.name, "beto_token_ner"),
        "beto_textcat",
        *["beto_textcat"] * len(extra),
        "doc_cleaner",
    ]
    assert nlp("Ana llegó a Lima.")._.trf_data is None
    assert set(nlp.get_pipe("ner").labels) == set(CONLL_LABELS)
    assert set(nlp.get_pipe("textcat").labels) == set(EMOTION_LABELS)
    for name, labels in extra.items():
        assert set(nlp.get_pipe(name).labels) == labels
        assert nlp.meta["performance"][f"{name}_score"] is not None  # its own score keys
    assert nlp.meta["performance"]["cats_score"] is not None
