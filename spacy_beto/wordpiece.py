"""Deterministic WordPiece vocabulary training (the algorithm of Hugging Face `tokenizers`).

`tokenizers`' WordPieceTrainer (used by `BertWordPieceTokenizer.train_from_iterator`) is not
deterministic: trained twice on the same text it gives two different vocabularies (on the
CoNLL-2002 + EmoEvent training text at 12,000 pieces, ~100 pieces differ and the ids of the
"##" pieces are shuffled). Its
continuing-subword pieces ("##a") get their ids in the iteration order of a randomly seeded
hash map, and those ids break ties between equally frequent merges (huggingface/tokenizers
issues #1794, PR #2066, not merged in the versions spacy-transformers allows). So `build-mini`
gave a different encoder on every run, and a mini's scores could not be reproduced.

This module runs the same algorithm — BERT normalisation and pre-tokenisation (from
`tokenizers`, which are deterministic), an alphabet of the `limit_alphabet` most frequent
characters, then byte-pair merges with the "##" continuing-subword prefix until `vocab_size`
pieces or no pair occurs `min_frequency` times — with every order fixed: alphabet and "##"
pieces sorted, ties between merges broken by the pieces' ids as `tokenizers` does.
"""

import heapq
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Sequence, Set, Tuple

PREFIX = "##"


def count_words(texts: Iterable[str], *, lowercase: bool = False) -> Counter:
    """Words of `texts` as BERT's normaliser (accents kept) and pre-tokeniser split them."""
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    normalizer = BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase
    )
    pre_tokenizer = BertPreTokenizer()
    counts: Counter = Counter()
    for text in texts:
        counts.update(w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


def train_wordpiece(
    word_counts: Dict[str, int],
    *,
    vocab_size: int,
    min_frequency: int = 2,
    limit_alphabet: int = 500,
    special_tokens: Sequence[str] = (),
) -> List[str]:
    """The vocabulary, in id order: special tokens, alphabet, "##" pieces, merged pieces."""
    words = sorted(word_counts.items())  # fixed order: nothing below depends on hashing
    char_counts: Counter = Counter()
    for word, count in words:
        for char in word:
            char_counts[char] += count
    # the most frequent characters (ties: the smaller character), then sorted, as tokenizers
    kept = sorted(char_counts, key=lambda c: (-char_counts[c], c))[:limit_alphabet]
    alphabet = set(kept)
    vocab: List[str] = list(dict.fromkeys(special_tokens))
    ids: Dict[str, int] = {tok: i for i, tok in enumerate(vocab)}

    def add(piece: str) -> int:
        if piece not in ids:
            ids[piece] = len(vocab)
            vocab.append(piece)
        return ids[piece]

    for char in sorted(alphabet):
        add(char)
    # each word as a list of piece ids; characters outside the alphabet are dropped (as there)
    symbols: List[List[int]] = []
    counts: List[int] = []
    continuing = sorted({char for word, _ in words for char in word[1:] if char in alphabet})
    for char in continuing:
        add(PREFIX + char)
    for word, count in words:
        pieces = [ids[char if i == 0 else PREFIX + char] for i, char in enumerate(word)
                  if char in alphabet]  # fmt: skip
        symbols.append(pieces)
        counts.append(count)
    pair_counts: Dict[Tuple[int, int], int] = defaultdict(int)
    where: Dict[Tuple[int, int], Set[int]] = defaultdict(set)
    for index, pieces in enumerate(symbols):
        for pair in zip(pieces, pieces[1:]):
            pair_counts[pair] += counts[index]
            where[pair].add(index)
    # max-heap of (count, pair); on equal counts the pair with the smaller ids first
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if -neg != count:  # stale entry: re-queue with the current count
            if count > 0:
                heapq.heappush(heap, (-count, pair))
            continue
        if count < min_frequency:
            break
        left, right = vocab[pair[0]], vocab[pair[1]]
        new = add(left + right[len(PREFIX) :] if right.startswith(PREFIX) else left + right)
        # the net change of each pair's count over the words that held `pair`; only pairs
        # whose count rose get a new heap entry (one that fell is re-queued when popped)
        delta: Counter = Counter()
        for index in where.pop(pair, ()):  # any order: the heap orders (count, pair)
            old_pairs = list(zip(symbols[index], symbols[index][1:]))
            symbols[index] = _merge(symbols[index], pair, new)
            new_pairs = list(zip(symbols[index], symbols[index][1:]))
            for p in old_pairs:
                delta[p] -= counts[index]
            for p in new_pairs:
                delta[p] += counts[index]
                where[p].add(index)
            for p in set(old_pairs) - set(new_pairs):
                where[p].discard(index)
        pair_counts.pop(pair, None)
        for p, change in delta.items():
            if change == 0 or p == pair:
                continue
            pair_counts[p] += change
            if change > 0:
                heapq.heappush(heap, (-pair_counts[p], p))
            elif pair_counts[p] <= 0:
                del pair_counts[p]
    return vocab


def _merge(pieces: List[int], pair: Tuple[int, int], new: int) -> List[int]:
    out: List[int] = []
    i = 0
    while i < len(pieces):
        if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(pieces[i])
            i += 1
    return out
