"""Give every non-whitespace token a transformer representation, even if it has no word pieces.

BERT's normalizer deletes control characters, NUL, zero-width and format characters (BOM,
ZWJ, soft hyphen) and U+FFFD. A spaCy token made only of such characters gets no word piece, so
the listeners would pool an empty row and the token would have an all-zero vector. Such a token
is aligned to the [CLS] piece of each window that contains it: it sees its window's context.
Whitespace tokens keep no pieces, as in spacy-transformers.
"""

from typing import Callable, List, Tuple, cast

import numpy
from spacy.tokens import Doc
from spacy_transformers.data_classes import FullTransformerBatch
from spacy_transformers.layers import TransformerModel
from thinc.api import Model
from thinc.types import Ints1d, Ragged

from .._compat import transformer_model_forward


def align_dropped_tokens(batch: FullTransformerBatch) -> FullTransformerBatch:
    """Align non-whitespace tokens without word pieces to their windows' first ([CLS]) piece."""
    align = batch.align
    lengths = numpy.asarray(align.lengths)
    if not len(lengths) or lengths.all():
        return batch
    # Token positions as in spacy_transformers.align.get_token_positions: all tokens of each
    # doc, docs in batch order.
    width = batch.wordpieces.input_ids.shape[1]
    extra: dict = {}
    span_i = 0
    doc_start = 0
    for doc_spans in batch.spans:
        for span in doc_spans:
            for token in span:
                if token.is_space:
                    continue
                pos = doc_start + token.i
                if lengths[pos] == 0:
                    extra.setdefault(pos, []).append(span_i * width)
            span_i += 1
        if doc_spans:
            doc_start += len(doc_spans[0].doc)
    if not extra:
        return batch
    data = numpy.asarray(align.data).ravel()
    starts = numpy.concatenate([[0], numpy.cumsum(lengths)])
    new_data: List[int] = []
    new_lengths = lengths.copy()
    for pos in range(len(lengths)):
        if pos in extra:
            new_data.extend(extra[pos])
            new_lengths[pos] = len(extra[pos])
        else:
            new_data.extend(int(i) for i in data[starts[pos] : starts[pos + 1]])
    new_align = numpy.asarray(new_data, dtype="i")
    batch.align = Ragged(
        cast(Ints1d, new_align), cast(Ints1d, numpy.asarray(new_lengths, dtype="i"))
    )
    return batch


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[FullTransformerBatch, Callable]:
    """spacy-transformers' forward pass, with dropped tokens aligned (see module docstring)."""
    output, backprop = transformer_model_forward(cast(TransformerModel, model), docs, is_train)
    return align_dropped_tokens(output), backprop
