"""Word pieces of a batch of window texts straight from the fast tokenizer's Rust backend.

spacy-transformers' `huggingface_tokenize` calls the transformers tokenizer (which turns every
field of every encoding into Python lists, then into arrays) and then looks up the string of
every word piece one id at a time (`convert_ids_to_tokens`); `WordpieceBatch` then counts the
non-padding strings of every row in Python. With a cheap encoder that is the largest single cost
of the pipeline (benchmarks/speed.md). This builds the same `WordpieceBatch` and offset mapping
from one `encode_batch` call: ids, type ids and offsets of all rows flattened once and
scattered into padded arrays, strings from each encoding's `tokens`.

Same outputs as upstream (tests/test_upstream_contract.py compares the whole forward pass): pad
to the longest row with the pad token (id, type id 0, offsets (0, 0)), attention mask 1.0 on
real pieces, token type ids only where the tokenizer's model takes them. `fast_wordpieces`
returns None where it cannot promise that (a slow tokenizer; truncation or a padding other than
"to the longest, on the right" configured on the backend), and the caller uses upstream's path.
"""

from itertools import chain
from typing import Any, Iterable, Optional, Sequence, Tuple, cast

import numpy
from spacy_transformers.data_classes import WordpieceBatch

_LONGEST_RIGHT = {"length": None, "pad_to_multiple_of": None, "direction": "right"}


def _backend(tokenizer: Any) -> Optional[Any]:
    """The Rust tokenizer, if it pads nothing itself (or to the longest row, on the right; it
    is then switched off: transformers sets the padding again on each of its own calls) and
    truncates nothing; else None."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or backend.truncation is not None:
        return None
    padding = backend.padding
    if padding is not None:
        if any(padding.get(key) != value for key, value in _LONGEST_RIGHT.items()):
            return None
        backend.no_padding()
    return backend


def _padded(
    values: Iterable[int], mask: numpy.ndarray, fill: int, *, pair: bool = False
) -> numpy.ndarray:
    """An int64 array of shape `mask.shape` (+ (2,) for pairs) holding `values` (all rows'
    items, flattened) where `mask` is true and `fill` elsewhere."""
    width = 2 if pair else 1
    out = numpy.full((*mask.shape, width), fill, dtype="int64")
    count = width * int(mask.sum())
    out[mask] = numpy.fromiter(values, dtype="int64", count=count).reshape(-1, width)
    return out if pair else out[..., 0]


def fast_wordpieces(
    tokenizer: Any, texts: Sequence[str]
) -> Optional[Tuple[WordpieceBatch, numpy.ndarray]]:
    """(WordpieceBatch, offset mapping of shape rows x pieces x 2) as spacy-transformers'
    `huggingface_tokenize` + `WordpieceBatch.from_batch_encoding` give them; None if the
    tokenizer is not a fast one in the state this module expects (see the module docstring)."""
    backend = _backend(tokenizer)
    if backend is None:
        return None
    encodings = backend.encode_batch(list(texts), add_special_tokens=True)
    ids = [e.ids for e in encodings]
    lengths = numpy.fromiter((len(row) for row in ids), dtype="int64", count=len(ids))
    width = int(lengths.max()) if len(lengths) else 0
    mask = numpy.arange(width)[None, :] < lengths[:, None]
    input_ids = _padded(chain.from_iterable(ids), mask, tokenizer.pad_token_id)
    token_type_ids = None
    if "token_type_ids" in tokenizer.model_input_names:
        token_type_ids = _padded(chain.from_iterable(e.type_ids for e in encodings), mask, 0)
    pairs = chain.from_iterable(chain.from_iterable(e.offsets for e in encodings))
    offsets = _padded(pairs, mask, 0, pair=True)
    pad = tokenizer.pad_token
    strings = [e.tokens + [pad] * (width - n) for e, n in zip(encodings, lengths.tolist())]
    wordpieces = WordpieceBatch(
        strings=strings,
        input_ids=cast(Any, input_ids),
        attention_mask=cast(Any, mask.astype("float32")),
        # As upstream counts them: the pieces that are not the pad token (a literal "[PAD]"
        # in a text is a pad piece too).
        lengths=(input_ids != tokenizer.pad_token_id).sum(axis=1).tolist(),
        token_type_ids=cast(Any, token_type_ids),
    )
    return wordpieces, offsets
