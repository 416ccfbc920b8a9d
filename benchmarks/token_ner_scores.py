"""Which entity score of beto_token_ner separates right from wrong entities best (AUROC)?

    python benchmarks/token_ner_scores.py training/calibration-token-ner/joint/model-last \\
        training/calibration-token-ner/data/dev/ner.spacy

On the evaluation half of the dev set (odd documents, as benchmarks/calibration.py), for every
predicted entity (correct: a gold entity has the same characters and label), from the same
per-token tag probabilities:

  product    the product of the chosen tags' probabilities over the entity's tokens (shipped)
  geomean    their geometric mean (length-normalised product)
  min        the lowest chosen-tag probability of the entity
  boundary   product x the chosen-tag probability of the token after the entity (if any): the
             span must also end there
  geomean+   geometric mean over the entity's tokens and its neighbours (before and after)
  mean       the arithmetic mean of the chosen tags' probabilities

AUROC is unchanged by a monotonic calibration, so raw scores are compared.
"""

from pathlib import Path
from typing import Dict, List

import numpy
import typer
from wasabi import msg

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(model: Path, dev: Path, batch_size: int = typer.Option(64)) -> None:
    import spacy
    from spacy.util import registry

    from spacy_beto.evaluation.confidence import auroc

    nlp = spacy.load(model)
    reader = registry.readers.get("spacy-beto.Corpus.v1")(dev, gold_preproc=False)
    examples = list(reader(nlp))[1::2]
    ner = nlp.get_pipe("ner")
    upstream = [proc for name, proc in nlp.pipeline if name == "transformer"]
    names = ("product", "geomean", "min", "boundary", "geomean+", "mean")
    scores: Dict[str, List[float]] = {name: [] for name in names}
    correct: List[bool] = []
    for i in range(0, len(examples), batch_size):
        egs = examples[i : i + batch_size]
        docs = [eg.predicted.copy() for eg in egs]  # the reader's docs, as calibration.py
        for proc in upstream:
            docs = list(proc.pipe(docs))
        batch = ner.predict(docs)
        ner.set_annotations(docs, batch)
        n = batch.tags.shape[0]
        chosen = batch.probs[numpy.arange(n), batch.tags].astype("f8")
        offsets = numpy.cumsum(batch.lengths) - batch.lengths
        for doc, eg, lo in zip(docs, egs, offsets.tolist()):
            gold = {(e.start_char, e.end_char, e.label_) for e in eg.reference.ents}
            for ent in doc.ents:
                p = chosen[lo + ent.start : lo + ent.end]
                after = chosen[lo + ent.end] if ent.end < len(doc) else 1.0
                scores["product"].append(float(p.prod()))
                scores["geomean"].append(float(numpy.exp(numpy.log(p).mean())))
                scores["min"].append(float(p.min()))
                scores["boundary"].append(float(p.prod() * after))
                ctx = chosen[lo + max(ent.start - 1, 0) : lo + min(ent.end + 1, len(doc))]
                scores["geomean+"].append(float(numpy.exp(numpy.log(ctx).mean())))
                scores["mean"].append(float(p.mean()))
                correct.append((ent.start_char, ent.end_char, ent.label_) in gold)
    msg.info(f"{len(correct)} predicted entities, {numpy.mean(correct):.1%} correct")
    rows = [(name, f"{auroc(values, correct):.3f}") for name, values in scores.items()]
    msg.table(rows, header=("score", "AUROC"), divider=True)


if __name__ == "__main__":
    app()
