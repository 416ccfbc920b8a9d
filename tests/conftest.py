"""Fixtures: a tiny BETO-layout BERT built offline from the project corpus, and tiny corpora."""

import json
from pathlib import Path
from typing import List

import pytest
import spacy
from spacy.language import Language
from spacy.training import Example

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


def pytest_addoption(parser):
    parser.addoption("--skip-slow", action="store_true", help="skip the end-to-end workflow tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--skip-slow"):
        skip = pytest.mark.skip(reason="--skip-slow given")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 1-layer, 32-wide BERT with a WordPiece vocab trained on the project corpus."""
    from spacy_beto.mini import build_mini

    out = tmp_path_factory.mktemp("tiny-bert")
    return build_mini(
        out,
        texts=[CORPUS / "ner" / "train.jsonl", CORPUS / "emotion" / "train.jsonl"],
        vocab_size=2000,
        layers=1,
        hidden=32,
        heads=2,
        seed=0,
    )


def read_jsonl(path: Path, limit: int) -> List[dict]:
    with path.open(encoding="utf8") as fileh:
        return [json.loads(line) for line, _ in zip(fileh, range(limit))]


@pytest.fixture(scope="session")
def ner_records() -> List[dict]:
    return read_jsonl(CORPUS / "ner" / "train.jsonl", 40)


@pytest.fixture(scope="session")
def emotion_records() -> List[dict]:
    return read_jsonl(CORPUS / "emotion" / "train.jsonl", 40)


def make_examples(nlp: Language, ner_records, emotion_records) -> List[Example]:
    """NER examples (no cats) followed by emotion examples (no entities)."""
    from spacy_beto.corpus.convert import CONLL_LABELS, EMOTION_LABELS, ner_doc, textcat_doc

    examples = []
    for i, rec in enumerate(ner_records):
        ref = ner_doc(nlp, rec, f"ner:{i}", CONLL_LABELS)
        examples.append(Example(nlp.make_doc(rec["text"]), ref))
    for i, rec in enumerate(emotion_records):
        ref = textcat_doc(nlp, rec, f"emo:{i}", EMOTION_LABELS)
        examples.append(Example(nlp.make_doc(rec["text"]), ref))
    return examples


def build_pipeline(model_dir: Path, *, ner_factory: str = "beto_ner") -> Language:
    """transformer + ner + textcat + doc_cleaner, the layout of the packaged es_beto_trf (whose
    entity head is beto_token_ner: `ner_factory`)."""
    nlp = spacy.blank("es")
    nlp.add_pipe("beto_transformer", name="transformer", config={"model": {"name": str(model_dir)}})
    nlp.add_pipe(ner_factory, name="ner")
    nlp.add_pipe("beto_textcat", name="textcat")
    nlp.add_pipe("doc_cleaner")  # drops doc._.trf_data after the heads read it
    return nlp


def train(nlp: Language, examples: List[Example], *, epochs: int, batch_size: int = 16) -> list:
    """Initialize and update `nlp` with seeded randomness; return the losses of each epoch."""
    spacy.util.fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    history = []
    for _ in range(epochs):
        losses: dict = {}
        for batch in spacy.util.minibatch(examples, batch_size):
            nlp.update(batch, sgd=optimizer, losses=losses)
        history.append(losses)
    return history


def trained_pipeline(
    model_dir: Path, ner_records, emotion_records, *, ner_factory: str = "beto_ner"
) -> Language:
    """`build_pipeline` after a few seeded updates on both corpora."""
    nlp = build_pipeline(model_dir, ner_factory=ner_factory)
    train(nlp, make_examples(nlp, ner_records, emotion_records), epochs=3)
    return nlp


@pytest.fixture(scope="session")
def trained_nlp(tiny_model_dir, ner_records, emotion_records) -> Language:
    """The pipeline after a few seeded updates on both corpora. Shared by many tests: never
    change it; work on `copy_of(saved_pipeline)` or `spacy.load(saved_pipeline, ...)`."""
    return trained_pipeline(tiny_model_dir, ner_records, emotion_records)


@pytest.fixture(scope="session")
def saved_pipeline(trained_nlp, tmp_path_factory) -> Path:
    """`trained_nlp` saved to disk once."""
    path = tmp_path_factory.mktemp("saved") / "nlp"
    trained_nlp.to_disk(path)
    return path


@pytest.fixture(scope="session")
def saved_default_pipeline(tiny_model_dir, ner_records, emotion_records, tmp_path_factory) -> Path:
    """As `saved_pipeline`, with the shipped configs' entity head (beto_token_ner): what the
    README's examples run against."""
    nlp = trained_pipeline(
        tiny_model_dir, ner_records, emotion_records, ner_factory="beto_token_ner"
    )
    path = tmp_path_factory.mktemp("saved_default") / "nlp"
    nlp.to_disk(path)
    return path
