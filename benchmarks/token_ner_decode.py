"""Cost of beto_token_ner's decoder (spacy_beto/components/biluo.py) per token, without a model.

    python benchmarks/token_ner_decode.py --docs 256 --tokens 40 --noise 0.0,1.0,2.0

Synthetic batches: each document gets a random valid BILUO sequence (4 labels, ~1 entity per 8
tokens) and tag logits peaked on it (+4) plus Gaussian noise of scale `--noise`; more noise
makes more documents' argmax sequences invalid, so more of them go through the constrained
Viterbi. Reports, per noise level, the share of such documents and tokens/s of the decoder
(argmax + transition check + Viterbi) and of the span and score extraction that follows.
"""

import time
from typing import List

import numpy
import typer
from wasabi import msg

from spacy_beto.components import biluo

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def gold_sequence(rng: numpy.random.Generator, n: int, n_labels: int) -> List[int]:
    tags: List[int] = []
    while len(tags) < n:
        if rng.random() < 0.125:
            label, size = int(rng.integers(n_labels)), int(rng.integers(1, 4))
            size = min(size, n - len(tags))
            base = 1 + 4 * label
            if size == 1:
                tags.append(base + 3)
            else:
                tags += [base] + [base + 1] * (size - 2) + [base + 2]
        else:
            tags.append(0)
    return tags


@app.command()
def main(
    docs: int = typer.Option(256, help="Documents per batch"),
    tokens: int = typer.Option(40, help="Mean tokens per document"),
    noise: str = typer.Option("0.0,1.0,2.0", help="Noise scales of the logits"),
    repeats: int = typer.Option(20, help="Timed batches per noise level (best reported)"),
    seed: int = typer.Option(0),
) -> None:
    rng = numpy.random.default_rng(seed)
    n_labels = 4
    tables = biluo.BiluoTables.build(n_labels)
    lengths = rng.integers(max(1, tokens // 2), tokens * 3 // 2 + 1, size=docs)
    gold = numpy.concatenate([gold_sequence(rng, int(n), n_labels) for n in lengths])
    n = int(lengths.sum())
    rows = []
    for scale in [float(x) for x in noise.split(",")]:
        logits = rng.normal(scale=scale, size=(n, tables.n_tags)).astype("f4")
        logits[numpy.arange(n), gold] += 4.0
        probs = numpy.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        logp = biluo.log_probs(probs)
        argmax = logp.argmax(1)
        bad = ~biluo.valid_tokens(argmax, lengths, tables)
        doc_of = numpy.repeat(numpy.arange(docs), lengths)
        share = len(numpy.unique(doc_of[bad])) / docs
        best_decode = best_rest = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            tags = biluo.decode(logp, lengths, tables)
            mid = time.perf_counter()
            starts, ends, _labels = biluo.spans(tags, lengths, tables)
            chosen = probs[numpy.arange(n), tags]
            numpy.exp(biluo.span_log_probs(biluo.log_probs(chosen), starts, ends))
            end = time.perf_counter()
            best_decode, best_rest = min(best_decode, mid - start), min(best_rest, end - mid)
        rows.append(
            (
                scale,
                f"{share:.1%}",
                f"{n / best_decode:,.0f}",
                f"{n / best_rest:,.0f}",
                f"{n / (best_decode + best_rest):,.0f}",
            )
        )
    msg.info(f"{docs} documents, {n} tokens per batch, best of {repeats}")
    header = ("noise", "docs via Viterbi", "decode tok/s", "spans+scores tok/s", "total tok/s")
    msg.table(rows, header=header, divider=True)


if __name__ == "__main__":
    app()
