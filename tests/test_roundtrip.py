"""Round trips (disk, bytes, pickle, DocBin), multiprocessing and training determinism."""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest
import spacy
import torch
from spacy.tokens import DocBin

from .conftest import build_pipeline, make_examples

TEXTS = [
    "El presidente Gustavo Petro viajó a Madrid con la delegación de Ecopetrol.",
    "¡Qué alegría, por fin aprobé el examen! 🎉",
    "",
    "Ana Pérez y Luis Gómez trabajan en el Banco de España, en Sevilla.",
    "Hola\x00mundo \ufeff desde Ma\u0301laga",
    "Me da miedo la tormenta que viene hacia Valencia.",
] * 3


def outputs(docs):
    return [([(e.start_char, e.end_char, e.label_) for e in doc.ents], doc.cats) for doc in docs]


def assert_same(got, expected):
    assert len(got) == len(expected)
    for (ents, cats), (ents_exp, cats_exp) in zip(got, expected):
        assert ents == ents_exp
        assert cats.keys() == cats_exp.keys()
        for label, score in cats_exp.items():
            assert cats[label] == pytest.approx(score, abs=1e-6)


@pytest.fixture(scope="module")
def expected(trained_nlp):
    return outputs(trained_nlp.pipe(TEXTS, batch_size=4))


def test_to_disk_and_load(saved_pipeline, expected):
    nlp = spacy.load(saved_pipeline)
    assert_same(outputs(nlp.pipe(TEXTS, batch_size=4)), expected)


def test_to_bytes_and_from_bytes(trained_nlp, expected):
    nlp = spacy.util.load_model_from_config(trained_nlp.config, auto_fill=True)
    nlp.from_bytes(trained_nlp.to_bytes())
    assert_same(outputs(nlp.pipe(TEXTS, batch_size=4)), expected)


def test_pickle_pipeline(trained_nlp, expected):
    nlp = pickle.loads(pickle.dumps(trained_nlp))
    assert_same(outputs(nlp.pipe(TEXTS, batch_size=4)), expected)


def test_processed_docs_through_docbin_and_pickle(trained_nlp, expected):
    docs = list(trained_nlp.pipe(TEXTS, batch_size=4))
    data = DocBin(docs=docs, store_user_data=True).to_bytes()
    restored = list(DocBin().from_bytes(data).get_docs(spacy.blank("es").vocab))
    assert [doc.text for doc in restored] == TEXTS
    assert_same(outputs(restored), expected)
    assert_same(outputs(pickle.loads(pickle.dumps(docs))), expected)


MULTIPROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import spacy

    texts = json.loads(sys.stdin.read())
    nlp = spacy.load(sys.argv[1])
    def outputs(docs):
        return [([(e.start_char, e.end_char, e.label_) for e in d.ents], d.cats) for d in docs]
    # One process first: torch's thread pool is then in use when the workers are forked.
    one = outputs(nlp.pipe(texts, batch_size=4))
    two = outputs(nlp.pipe(texts, batch_size=4, n_process=2))
    print(json.dumps({"one": one, "two": two}))
    """
)


def test_pipe_with_two_processes_equals_one_and_does_not_hang(saved_pipeline, expected):
    """Linux's default start method is fork; forked children get 1 torch thread (fork hook)."""
    proc = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT, str(saved_pipeline)],
        input=json.dumps(TEXTS),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    one, two = (
        [([tuple(e) for e in ents], cats) for ents, cats in result[key]] for key in ("one", "two")
    )
    assert_same(two, one)
    assert_same(one, expected)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_uses_one_torch_thread():
    """The hook registered with os.register_at_fork when beto_transformer is imported."""
    import spacy_beto.components.transformer  # noqa: F401  (registers the hook)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child reports its torch threads and exits at once
            os.write(write, str(torch.get_num_threads()).encode())
            os._exit(0)
        os.close(write)
        child_threads = int(os.read(read, 16))
        os.waitpid(pid, 0)
        os.close(read)
        parent_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert child_threads == 1
    assert parent_threads == 2  # the parent keeps its threads


def train_once(model_dir, ner_records, emotion_records):
    spacy.util.fix_random_seed(0)
    nlp = build_pipeline(model_dir)
    examples = make_examples(nlp, ner_records[:12], emotion_records[:12])
    optimizer = nlp.initialize(lambda: examples)
    for batch in spacy.util.minibatch(examples, 8):
        nlp.update(batch, sgd=optimizer, drop=0.1)
    return nlp


def test_same_seed_trains_identical_weights_on_cpu(tiny_model_dir, ner_records, emotion_records):
    first = train_once(tiny_model_dir, ner_records, emotion_records)
    second = train_once(tiny_model_dir, ner_records, emotion_records)
    state_a = first.get_pipe("transformer").model.transformer.state_dict()
    state_b = second.get_pipe("transformer").model.transformer.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    for name in ("ner", "textcat"):
        assert first.get_pipe(name).to_bytes() == second.get_pipe(name).to_bytes(), name
    doc_a, doc_b = first(TEXTS[3]), second(TEXTS[3])
    assert doc_a.cats == doc_b.cats
