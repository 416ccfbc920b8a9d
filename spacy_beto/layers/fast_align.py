"""Token-to-word-piece alignment from the tokenizer's offsets, with numpy instead of Tokens.

spacy-transformers' `get_alignment_via_offset_mapping` builds a spaCy `Token` object for every
token of every window and of every document (a dict keyed by Token for the positions, a set per
token): with a tiny encoder that is the largest single cost of the pipeline on the CPU
(benchmarks/speed.md, issue 12). This computes the same `Ragged` from two integer arrays per
document (`doc.to_array([IDX, LENGTH])`) and the offset mapping, vectorised per window.

Semantics copied from spacy_transformers/align.pyx: character `c` of a window belongs to the
last token starting at or before `c` if `c <= start + len(token)` (the character after a token
belongs to it unless the next token starts there); a word piece covering characters [s, e)
aligns to every token of those characters; positions are all tokens of each document, documents
in their order of first appearance, and each token's word pieces are sorted and unique.
"""

from typing import Dict, List, Sequence

import numpy
from spacy.attrs import IDX, LENGTH
from spacy.tokens import Span
from thinc.types import Ragged


def fast_alignment(spans: Sequence[Span], offset_mapping: numpy.ndarray) -> Ragged:
    """The alignment spacy-transformers computes from `offset_mapping` (windows x pieces x 2)."""
    if len(spans) != len(offset_mapping):
        raise ValueError("Cannot align batches of different sizes.")
    doc_start: Dict[int, int] = {}
    arrays: Dict[int, numpy.ndarray] = {}
    n_tokens = 0
    for span in spans:
        key = id(span.doc)
        if key not in doc_start:
            doc_start[key] = n_tokens
            arrays[key] = span.doc.to_array([IDX, LENGTH]).astype("int64", copy=False)
            n_tokens += len(span.doc)
    width = offset_mapping.shape[1] if len(spans) else 0
    n_pieces = max(width * len(spans), 1)
    keys: List[numpy.ndarray] = []
    for i, span in enumerate(spans):
        arr = arrays[id(span.doc)][span.start : span.end]
        if not len(arr):
            continue
        starts = arr[:, 0] - span.start_char
        ends = starts + arr[:, 1]  # inclusive: the character after the token is its own
        offsets = numpy.asarray(offset_mapping[i], dtype="int64")
        pieces = numpy.nonzero(offsets[:, 1] > offsets[:, 0])[0]
        first = offsets[pieces, 0]
        last = offsets[pieces, 1] - 1
        t_first = numpy.searchsorted(starts, first, side="right") - 1
        t_last = numpy.searchsorted(starts, last, side="right") - 1
        valid_first = (t_first >= 0) & (first <= ends[numpy.maximum(t_first, 0)])
        simple = valid_first & (t_first == t_last)
        base = doc_start[id(span.doc)] + span.start
        pos = base + t_first[simple]
        wps = i * width + pieces[simple]
        keys.append(pos * n_pieces + wps)
        for j in numpy.nonzero(~simple)[0]:  # a piece over several tokens, or partly outside
            chars = numpy.arange(first[j], last[j] + 1)
            toks = numpy.searchsorted(starts, chars, side="right") - 1
            ok = (toks >= 0) & (chars <= ends[numpy.maximum(toks, 0)])
            toks = numpy.unique(toks[ok])
            keys.append((base + toks) * n_pieces + i * width + pieces[j])
    flat = numpy.unique(numpy.concatenate(keys)) if keys else numpy.zeros((0,), dtype="int64")
    positions = flat // n_pieces
    lengths = numpy.bincount(positions, minlength=n_tokens).astype("i")
    return Ragged((flat % n_pieces).astype("i"), lengths)
