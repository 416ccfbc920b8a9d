"""Keep every transformer window within the model's word-piece limit, without dropping tokens."""

import logging
from typing import Any, Callable, List

from spacy.tokens import Doc, Span

logger = logging.getLogger(__name__)

SpanGetter = Callable[[List[Doc]], List[List[Span]]]


def fit_spans(spans: List[Span], tokenizer: Any, limit: int) -> List[Span]:
    """Split spans whose word pieces exceed `limit` into consecutive sub-spans that fit.

    Every token stays covered. A single token longer than `limit` pieces keeps a window of its
    own (the transformer then sees only its first `limit` pieces).
    """
    # A span never has more pieces than non-space characters: most spans need no tokenizing.
    suspects = [i for i, span in enumerate(spans) if len(span.text) > limit]
    if not suspects:
        return spans
    counts = tokenizer(
        [spans[i].text for i in suspects],
        add_special_tokens=False,
        return_length=True,
        verbose=False,
    )["length"]
    oversize = {i for i, n in zip(suspects, counts) if n > limit}
    if not oversize:
        return spans
    fitted: List[Span] = []
    for i, span in enumerate(spans):
        if i not in oversize:
            fitted.append(span)
            continue
        sizes = tokenizer(
            [t.text for t in span], add_special_tokens=False, return_length=True, verbose=False
        )["length"]
        start, total = span.start, 0
        for j, n in enumerate(sizes):
            tok_i = span.start + j
            if total and total + n > limit:
                fitted.append(span.doc[start:tok_i])
                start, total = tok_i, 0
            if n > limit:
                logger.warning(
                    "Token %d of a document has %d word pieces (limit %d); the transformer "
                    "sees its first %d.",
                    tok_i,
                    n,
                    limit,
                    limit,
                )
            total += n
        fitted.append(span.doc[start : span.end])
    return fitted


class LengthFittedSpans:
    """A span getter that wraps another and splits windows that exceed the word-piece limit."""

    def __init__(self, get_spans: SpanGetter, model: Any, max_length: int) -> None:
        self.get_spans = get_spans
        self.model = model
        self.max_length = max_length

    def __call__(self, docs: List[Doc]) -> List[List[Span]]:
        nested = self.get_spans(docs)
        tokenizer = self.model.tokenizer
        if tokenizer is None:
            return nested
        limit = self.max_length - tokenizer.num_special_tokens_to_add(pair=False)
        return [fit_spans(doc_spans, tokenizer, limit) for doc_spans in nested]
