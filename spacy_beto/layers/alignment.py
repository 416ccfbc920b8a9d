"""spacy-transformers' TransformerModel forward, with a vectorised alignment, and every
non-whitespace token given a transformer representation.

`forward` re-assembles spacy-transformers' `transformer_model.forward` from its upstream pieces
(through `_compat.py`) with three changes: the token/word-piece alignment is computed by
`fast_align.fast_alignment` (numpy; no spaCy `Token` object per token, the largest cost of the
pipeline around a cheap encoder, benchmarks/speed.md), the window texts are sliced from one
`doc.text` per document, and a fast tokenizer's word pieces come from its Rust backend in one
call (`fast_tokenize.fast_wordpieces`; upstream's `huggingface_tokenize` otherwise). The result
is the same FullTransformerBatch
(tests/test_upstream_contract.py compares both forwards).

Give every non-whitespace token a transformer representation, even if it has no word pieces.

BERT's normalizer deletes control characters, NUL, zero-width and format characters (BOM,
ZWJ, soft hyphen) and U+FFFD. A spaCy token made only of such characters gets no word piece, so
the listeners would pool an empty row and the token would have an all-zero vector. Such a token
is aligned to the [CLS] piece of each window that contains it: it sees its window's context.
Whitespace tokens keep no pieces, as in spacy-transformers.
"""

from typing import Any, Callable, List, Tuple, cast

import numpy
import torch
from spacy.tokens import Doc
from spacy_transformers.data_classes import FullTransformerBatch, WordpieceBatch
from thinc.api import Model
from thinc.types import Ints1d, Ragged

from .._compat import (
    get_alignment,
    huggingface_tokenize,
    log_batch_size,
    log_gpu_memory,
    maybe_flush_pytorch_cache,
    truncate_oversize_splits,
)
from .fast_align import doc_texts, fast_alignment
from .fast_tokenize import fast_wordpieces

_HALF = (torch.bfloat16, torch.float16)


def align_dropped_tokens(batch: FullTransformerBatch) -> FullTransformerBatch:
    """Align non-whitespace tokens without word pieces to their windows' first ([CLS]) piece."""
    align = batch.align
    lengths = numpy.asarray(align.lengths)
    if not len(lengths) or lengths.all():
        return batch
    # Token positions as in spacy_transformers.align.get_token_positions: all tokens of each
    # doc, docs in order of first appearance (a Doc twice in a batch has one set of positions).
    width = batch.wordpieces.input_ids.shape[1]
    extra: dict = {}
    span_i = 0
    doc_starts: dict = {}
    n_tokens = 0
    for doc_spans in batch.spans:
        if doc_spans and id(doc_spans[0].doc) not in doc_starts:
            doc_starts[id(doc_spans[0].doc)] = n_tokens
            n_tokens += len(doc_spans[0].doc)
        for span in doc_spans:
            doc_start = doc_starts[id(span.doc)]
            for token in span:
                if token.is_space:
                    continue
                pos = doc_start + token.i
                if lengths[pos] == 0 and span_i * width not in extra.get(pos, ()):
                    extra.setdefault(pos, []).append(span_i * width)
            span_i += 1
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


def _is_half(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype in _HALF


def fp32_outputs(model_output: Any) -> Any:
    """The encoder's outputs with bf16/fp16 tensors cast to fp32, once per batch: the heads
    (and CuPy, which has no bf16) compute in fp32 (`beto_transformer`'s `precision`)."""
    for key, value in list(model_output.items()):
        if _is_half(value):
            model_output[key] = value.float()
        elif isinstance(value, tuple) and any(map(_is_half, value)):
            model_output[key] = tuple(t.float() if _is_half(t) else t for t in value)
    return model_output


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[FullTransformerBatch, Callable]:
    """spacy-transformers' forward pass (transformer_model.forward) with the alignment computed
    by `fast_alignment`, window texts sliced from each `doc.text`, and dropped tokens aligned
    (see module docstring)."""
    tokenizer = model.tokenizer  # type: ignore[attr-defined]
    transformer = model.layers[0]
    logger = model.attrs.get("logger")
    nested_spans = model.attrs["get_spans"](docs)
    flat_spans = [span for doc_spans in nested_spans for span in doc_spans]
    maybe_flush_pytorch_cache(chance=model.attrs.get("flush_cache_chance", 0))
    if logger is not None:
        log_gpu_memory(logger, "begin forward")
    texts = doc_texts(flat_spans)
    fast = fast_wordpieces(tokenizer, texts) if texts else None
    offset_mapping: Any  # (rows, pieces, 2) character offsets, or None: strings are aligned
    if fast is not None:
        wordpieces, offset_mapping = fast
    else:
        batch_encoding = huggingface_tokenize(tokenizer, texts)
        wordpieces = WordpieceBatch.from_batch_encoding(batch_encoding)
        offset_mapping = batch_encoding.get("offset_mapping")
    if offset_mapping is not None:
        align = fast_alignment(flat_spans, numpy.asarray(offset_mapping))
    else:
        align = get_alignment(flat_spans, wordpieces.strings, tokenizer.all_special_tokens)
    if logger is not None:
        log_batch_size(logger, wordpieces, is_train)
    wordpieces, align = truncate_oversize_splits(wordpieces, align, tokenizer.model_max_length)
    model_output, bp_tensors = transformer(wordpieces, is_train)
    if not is_train:
        model_output = fp32_outputs(model_output)
    if logger is not None:
        log_gpu_memory(logger, "after forward")
    output = FullTransformerBatch(
        spans=nested_spans, wordpieces=wordpieces, model_output=model_output, align=align
    )

    def backprop_transformer(d_output: FullTransformerBatch) -> List[Doc]:
        if logger is not None:
            log_gpu_memory(logger, "Begin backprop")
        bp_tensors(d_output.model_output)
        if logger is not None:
            log_gpu_memory(logger, "After backprop")
        return docs

    return align_dropped_tokens(output), backprop_transformer
