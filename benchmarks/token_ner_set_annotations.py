"""What entities cost beto_token_ner outside the model: `set_annotations` (Span objects,
`doc.set_ents`, `doc.spans["ents_scored"]` / candidates with scores) on the 2,000 texts of
`benchmarks/speed.py` (assets/speed/texts-2000.json, written by a speed.py run), with no entity vs
CoNLL-2002's density (one entity starting at ~1 token in 8, 1-3 tokens long), batches of 256.

    python benchmarks/token_ner_set_annotations.py

Compare with the pipeline's time per pass in `speed.py --overhead` (variant `at`): the speed run
uses untrained heads, which predict no entity.
"""

import json
import time
from pathlib import Path
from typing import List

import numpy
import spacy
from spacy.tokens import Doc

from spacy_beto.components import biluo
from spacy_beto.components.token_ner import TagBatch

TEXTS = Path(__file__).resolve().parent.parent / "assets" / "speed" / "texts-2000.json"


def tag_batch(docs: List[Doc], tables: biluo.BiluoTables, *, with_ents: bool, seed: int):
    rng = numpy.random.default_rng(seed)
    lengths = numpy.array([len(doc) for doc in docs])
    n_tags = 1 + 4 * 4
    gold = numpy.zeros(int(lengths.sum()), dtype="i8")
    i = 0
    while with_ents and i < len(gold):
        if rng.random() < 0.125:
            base, size = 1 + 4 * int(rng.integers(4)), int(rng.integers(1, 4))
            seq = [base + 3] if size == 1 else [base] + [base + 1] * (size - 2) + [base + 2]
            gold[i : i + size] = seq[: len(gold) - i]
            i += size
        else:
            i += 1
    probs = numpy.full((len(gold), n_tags), 0.01 / n_tags, dtype="f")
    probs[numpy.arange(len(gold)), gold] += 0.99
    tags = biluo.decode(numpy.log(probs), lengths, tables)  # valid across document ends
    return TagBatch(lengths=lengths, tags=tags, probs=probs, preset=numpy.zeros(len(gold), bool))


def main() -> None:
    texts = json.loads(TEXTS.read_text(encoding="utf8"))
    nlp = spacy.blank("es")
    ner = nlp.add_pipe("beto_token_ner", name="ner")
    for label in ("PER", "ORG", "LOC", "MISC"):
        ner.add_label(label)
    for with_ents in (False, True):
        best = float("inf")
        for seed in range(3):
            docs = [nlp.make_doc(text) for text in texts]
            batches = [
                (docs[i : i + 256], tag_batch(docs[i : i + 256], ner.tables, with_ents=with_ents,
                                              seed=seed))
                for i in range(0, len(docs), 256)
            ]  # fmt: skip
            start = time.perf_counter()
            for batch_docs, batch in batches:
                ner.set_annotations(batch_docs, batch)
            best = min(best, time.perf_counter() - start)
        n_ents = sum(len(doc.ents) for doc in docs)
        n_tokens = sum(len(doc) for doc in docs)
        print(f"entities: {n_ents:>6} in {n_tokens} tokens; set_annotations {best:.3f} s")


if __name__ == "__main__":
    main()
