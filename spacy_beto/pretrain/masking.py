"""Whole-word masking for the masked-language-model objective, as BETO was pretrained.

A word is the unit BERT's basic tokenizer splits on (whitespace and punctuation); all its
word pieces are selected together. 15 % of the words of a sequence are selected (at least
one), and each selected word is, as a whole, replaced by [MASK] pieces (80 %), by random
pieces (10 %) or kept (10 %). Google's BERT code draws the 80/10/10 choice per piece; drawing
it per word never leaves a masked word half-visible.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

IGNORE_INDEX = -100


@dataclass(frozen=True)
class MaskingConfig:
    """Token ids and rates for whole-word masking."""

    mask_id: int
    vocab_size: int
    special_ids: Tuple[int, ...]
    word_rate: float = 0.15
    mask_frac: float = 0.8
    random_frac: float = 0.1


def word_groups(word_ids: Sequence[Optional[int]]) -> List[List[int]]:
    """Positions of each word's pieces, in order; special tokens (word id None) excluded.

    A new group starts where the word id changes, so the same id in two segments of a
    sentence pair gives two groups.
    """
    groups: List[List[int]] = []
    prev: Optional[int] = None
    for pos, wid in enumerate(word_ids):
        if wid is None:
            prev = None
            continue
        if wid != prev or not groups:
            groups.append([pos])
        else:
            groups[-1].append(pos)
        prev = wid
    return groups


def mask_whole_words(
    input_ids: Sequence[int],
    word_ids: Sequence[Optional[int]],
    *,
    config: MaskingConfig,
    rng: np.random.Generator,
) -> Tuple[List[int], List[int]]:
    """Masked copy of `input_ids` and the MLM labels (IGNORE_INDEX where not predicted)."""
    ids = list(input_ids)
    labels = [IGNORE_INDEX] * len(ids)
    groups = word_groups(word_ids)
    if not groups:
        return ids, labels
    n_select = max(1, int(round(len(groups) * config.word_rate)))
    chosen = rng.choice(len(groups), size=n_select, replace=False)
    special = set(config.special_ids)
    for g in sorted(chosen.tolist()):
        roll = rng.random()
        for pos in groups[g]:
            labels[pos] = ids[pos]
            if roll < config.mask_frac:
                ids[pos] = config.mask_id
            elif roll < config.mask_frac + config.random_frac:
                ids[pos] = _random_piece(config.vocab_size, special, rng)
    return ids, labels


def _random_piece(vocab_size: int, special: "set[int]", rng: np.random.Generator) -> int:
    """A uniformly random non-special piece id (rejection sampling)."""
    while True:
        piece = int(rng.integers(vocab_size))
        if piece not in special:
            return piece
