"""Accuracy (and speed) of a trained pipeline in fp32 and with its encoder quantized to int8.

python benchmarks/quantized_accuracy.py PIPELINE DEV.spacy... --json benchmarks/quantized.json
"""

import json
import time
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def evaluate(nlp, examples, rounds: int) -> Dict[str, float]:
    """Scores on the examples; words/s is the best of `rounds` passes."""
    texts = [eg.reference.text for eg in examples]
    n_words = sum(len(t.split()) for t in texts)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        list(nlp.pipe(texts, batch_size=256))
        best = min(best, time.perf_counter() - start)
    scores = nlp.evaluate(examples)
    return {
        "ents_f": 100 * (scores.get("ents_f") or 0.0),
        "cats_macro_f": 100 * (scores.get("cats_macro_f") or 0.0),
        "words_per_s": n_words / best,
    }


@app.command()
def main(
    pipeline: Path = typer.Argument(..., help="Trained pipeline directory"),
    dev: List[Path] = typer.Argument(..., help="Dev .spacy files"),
    threads: int = typer.Option(2, help="torch threads"),
    rounds: int = typer.Option(2, help="Timed passes per variant (best counts)"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write results here"),
) -> None:
    """Evaluate fp32 and int8 on the same dev data; print the losses."""
    import spacy
    import torch
    from spacy.tokens import DocBin
    from spacy.training import Example

    from spacy_beto.quantize import quantize_pipeline

    torch.set_num_threads(threads)
    results = {}
    for variant in ("fp32", "int8"):
        nlp = spacy.load(pipeline)
        if variant == "int8":
            quantize_pipeline(nlp)
        examples = []
        for path in dev:
            for doc in DocBin().from_disk(path).get_docs(nlp.vocab):
                examples.append(Example(nlp.make_doc(doc.text), doc))
        results[variant] = evaluate(nlp, examples, rounds)
        msg.text(f"{variant}: " + ", ".join(f"{k} {v:.2f}" for k, v in results[variant].items()))
    loss = {
        "ents_f_loss": results["fp32"]["ents_f"] - results["int8"]["ents_f"],
        "cats_macro_f_loss": results["fp32"]["cats_macro_f"] - results["int8"]["cats_macro_f"],
        "speedup": results["int8"]["words_per_s"] / results["fp32"]["words_per_s"],
    }
    msg.table([(k, f"{v:.3f}") for k, v in loss.items()], header=("", "int8 vs fp32"))
    if json_path:
        out = {**results, **loss, "n_examples": len(examples)}
        json_path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    app()
