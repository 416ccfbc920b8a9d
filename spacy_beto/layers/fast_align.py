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

from typing import Any, Dict, List, Sequence, cast

import numpy
import torch
from spacy.attrs import IDX, LENGTH
from spacy.tokens import Span
from spacy_transformers.data_classes import FullTransformerBatch, TransformerData
from thinc.api import torch2xp
from thinc.types import Ragged
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import ModelOutput


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
    return Ragged(cast(Any, (flat % n_pieces).astype("i")), cast(Any, lengths))


def doc_texts(spans: Sequence[Span]) -> List[str]:
    """Each span's text, sliced from its document's text (one `doc.text` per document:
    `Span.text` and `Doc.text` join the text of every token on each access)."""
    texts: Dict[int, str] = {}
    out = []
    for span in spans:
        key = id(span.doc)
        if key not in texts:
            texts[key] = span.doc.text
        out.append(texts[key][span.start_char : span.end_char])
    return out


class OffsetSplitBatch(FullTransformerBatch):
    """A FullTransformerBatch whose `split_by_doc` finds each document's rows of the alignment
    by arithmetic (document offset + token index) instead of spacy-transformers'
    `get_token_positions`, a dict keyed by a Token object for every token of every document."""

    def split_by_doc(self) -> List[TransformerData]:
        """spacy-transformers' FullTransformerBatch.split_by_doc, same outputs."""
        doc_start: Dict[int, int] = {}
        n_tokens = 0
        for doc_spans in self.spans:
            for span in doc_spans[:1]:
                if id(span.doc) not in doc_start:
                    doc_start[id(span.doc)] = n_tokens
                    n_tokens += len(span.doc)
        xp_model_output = ModelOutput()
        last_hidden_state = cast(Any, cast(BaseModelOutput, self.model_output).last_hidden_state)
        for key, output in self.model_output.items():
            if isinstance(output, torch.Tensor):
                xp_model_output[key] = torch2xp(output)
            elif (
                isinstance(output, tuple)
                and all(isinstance(t, torch.Tensor) for t in output)
                and all(t.shape[0] == last_hidden_state.shape[0] for t in output)
            ):
                xp_model_output[key] = [torch2xp(t) for t in output]
        outputs = []
        start = 0
        prev_tokens = 0
        for doc_spans in self.spans:
            if len(doc_spans) == 0 or len(doc_spans[0]) == 0:
                outputs.append(TransformerData.empty())
                continue
            offset = doc_start[id(doc_spans[0].doc)]
            start_i = offset + doc_spans[0].start
            end_i = offset + doc_spans[-1].end
            end = start + len(doc_spans)
            doc_tokens = self.wordpieces[start:end]
            doc_align = self.align[start_i:end_i]
            doc_align.data = doc_align.data - prev_tokens
            model_output = ModelOutput()
            for key, output in xp_model_output.items():
                if not isinstance(output, list):
                    model_output[key] = output[start:end]
                else:
                    model_output[key] = [t[start:end] for t in output]
            outputs.append(
                TransformerData(wordpieces=doc_tokens, model_output=model_output, align=doc_align)
            )
            prev_tokens += doc_tokens.input_ids.size
            start += len(doc_spans)
        return outputs
