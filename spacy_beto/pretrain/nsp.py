"""Sentence pairs for next-sentence prediction (NSP), as in BERT's pretraining data.

Input is a list of documents, each a list of consecutive sentences. A sentence with a
successor in its document gives a pair (A, B, label): half the time B is that successor
(label IS_NEXT), otherwise a sentence drawn from another document (label NOT_NEXT). The last
sentence of a document (and a one-sentence document) gives a single segment whose NSP label
is ignored, so its text still trains the MLM objective. Labels follow Hugging Face's
BertForPreTraining: 0 = B follows A, 1 = B is random.
"""

from typing import List, Optional, Sequence, Tuple

import numpy as np

IS_NEXT = 0
NOT_NEXT = 1
NO_PAIR = -100

Pair = Tuple[str, Optional[str], int]


def make_pairs(
    docs: Sequence[Sequence[str]], *, rng: np.random.Generator, random_next_prob: float = 0.5
) -> List[Pair]:
    """(A, B, label) for every sentence of `docs`; B is None (label NO_PAIR) without successor."""
    owners = [(d, i) for d, doc in enumerate(docs) for i in range(len(doc))]
    pairs: List[Pair] = []
    for d, doc in enumerate(docs):
        for i, sent in enumerate(doc):
            if i + 1 >= len(doc):
                pairs.append((sent, None, NO_PAIR))
                continue
            if rng.random() < random_next_prob:
                other = _random_other(owners, d, rng)
                if other is not None:
                    od, oi = other
                    pairs.append((sent, docs[od][oi], NOT_NEXT))
                    continue
            pairs.append((sent, doc[i + 1], IS_NEXT))
    return pairs


def _random_other(
    owners: Sequence[Tuple[int, int]], doc_index: int, rng: np.random.Generator
) -> Optional[Tuple[int, int]]:
    """A random (document, sentence) outside document `doc_index`; None if there is none."""
    for _ in range(10):
        cand = owners[int(rng.integers(len(owners)))]
        if cand[0] != doc_index:
            return cand
    others = [o for o in owners if o[0] != doc_index]
    if not others:
        return None
    return others[int(rng.integers(len(others)))]
