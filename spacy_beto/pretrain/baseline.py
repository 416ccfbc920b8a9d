"""The unigram baseline for held-out MLM perplexity: what predicting masked pieces from their
frequency alone scores, so that the pretrained model's perplexity can be read against it.
"""

import math
from typing import Any, Dict, List

import numpy as np

from .data import PretrainingData, read_lines
from .masking import IGNORE_INDEX


def unigram_perplexity(
    data: PretrainingData,
    dev_batches: List[Dict[str, Any]],
    *,
    vocab_size: int,
    max_lines: int,
) -> Dict[str, Any]:
    """Perplexity, on the masked pieces of `dev_batches`, of the add-one-smoothed piece
    frequencies of the first `max_lines` training lines of `data` (the MLM model is scored on
    exactly the same pieces, so the two numbers compare directly)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    texts: List[str] = []
    n_lines = 0

    def flush() -> None:
        enc = data.tokenizer(
            texts, add_special_tokens=False, return_attention_mask=False, verbose=False
        )
        for ids in enc["input_ids"]:
            np.add.at(counts, np.asarray(ids, dtype=np.int64), 1)
        texts.clear()

    lines = read_lines(
        data.files,
        file_index=0,
        offset=0,
        line=0,
        max_line_bytes=data.max_line_bytes,
        stats=type(data.stats)(),  # bad lines are counted by the training pass
    )
    for text, *_ in lines:
        if text is None:
            continue
        texts.append(text)
        n_lines += 1
        if len(texts) >= 5000:
            flush()
        if n_lines >= max_lines:
            break
    if texts:
        flush()
    log_probs = np.log(counts + 1.0) - math.log(float(counts.sum()) + vocab_size)
    total, n = 0.0, 0
    for batch in dev_batches:
        labels = batch["labels"].numpy().reshape(-1)
        labels = labels[labels != IGNORE_INDEX]
        total -= float(log_probs[labels].sum())
        n += len(labels)
    loss = total / max(n, 1)
    return {
        "dev_loss": round(loss, 4),
        "dev_perplexity": round(math.exp(loss), 2),
        "train_lines": n_lines,
        "train_pieces": int(counts.sum()),
        "dev_pieces": n,
    }
