"""Entities and categories of a pipeline in reduced precision vs fp32 (issue 12: >= 99 % of docs).

    python benchmarks/gpu/agreement.py PIPELINE_DIR --texts texts.json --gpu-id 0 --json out.json

PIPELINE_DIR is a trained pipeline (e.g. a trained mini; the figure that counts) or, with
`--random MODEL_DIR`, speed.py's (a) built on an encoder directory (random heads: a weaker check,
reported as such). A document agrees when its entities (start, end, label) and its top category
are equal to fp32's; also reported: the largest category-score difference.
"""

import json
import time
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def outputs(nlp, texts: List[str], batch_size: int) -> List[tuple]:
    out = []
    for doc in nlp.pipe(texts, batch_size=batch_size):
        ents = tuple((e.start_char, e.end_char, e.label_) for e in doc.ents)
        out.append((ents, dict(doc.cats)))
    return out


@app.command()
def main(
    pipeline: Optional[Path] = typer.Argument(None, help="Trained pipeline directory"),
    random: Optional[Path] = typer.Option(None, "--random", help="Encoder dir: speed.py's (a)"),
    texts: Path = typer.Option(..., "--texts", help="JSON list of texts (speed.py --texts-out)"),
    n_texts: int = typer.Option(2000, "--n-texts"),
    gpu_id: int = typer.Option(-1, "--gpu-id"),
    precisions: str = typer.Option("bf16,fp16", "--precisions"),
    batch_size: int = typer.Option(256, "--batch-size"),
    json_path: Optional[Path] = typer.Option(None, "--json"),
) -> None:
    import spacy
    import torch

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
        torch.cuda.set_device(gpu_id)
    data = json.loads(texts.read_text(encoding="utf8"))[:n_texts]
    n_words = sum(len(t.split()) for t in data)

    def load(precision: str):
        if pipeline is not None:
            cfg = {"components": {"transformer": {"precision": precision}}}
            return spacy.load(pipeline, config=cfg)
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from speed import build_a  # type: ignore[import-not-found]

        torch.manual_seed(0)
        nlp = build_a(random)
        nlp.get_pipe("transformer").precision = precision
        return nlp

    if pipeline is None and random is None:
        msg.fail("Give a PIPELINE directory or --random MODEL_DIR", exits=1)
    result: Dict = {
        "pipeline": str(pipeline or random),
        "trained": pipeline is not None,
        "n_texts": len(data),
        "words": n_words,
        "device": torch.cuda.get_device_name(gpu_id) if gpu_id >= 0 else "cpu",
        "precisions": {},
    }
    ref_nlp = load("fp32")
    if pipeline is None:  # same random heads for every precision
        heads = ref_nlp.to_bytes(exclude=["transformer"])
    outputs(ref_nlp, data[:64], batch_size)  # warm-up
    t0 = time.perf_counter()
    reference = outputs(ref_nlp, data, batch_size)
    result["precisions"]["fp32"] = {"words_per_s": n_words / (time.perf_counter() - t0)}
    for precision in filter(None, precisions.split(",")):
        if pipeline is None:
            nlp = ref_nlp
            nlp.get_pipe("transformer").precision = precision
            nlp.from_bytes(heads, exclude=["transformer"])
        else:
            nlp = load(precision)
        outputs(nlp, data[:64], batch_size)
        t0 = time.perf_counter()
        got = outputs(nlp, data, batch_size)
        seconds = time.perf_counter() - t0
        same_ents = sum(a[0] == b[0] for a, b in zip(got, reference))
        same_cat = sum(
            (max(a[1], key=a[1].get) if a[1] else None)
            == (max(b[1], key=b[1].get) if b[1] else None)
            for a, b in zip(got, reference)
        )
        same_doc = sum(
            a[0] == b[0]
            and (max(a[1], key=a[1].get) if a[1] else None)
            == (max(b[1], key=b[1].get) if b[1] else None)
            for a, b in zip(got, reference)
        )
        max_diff = max(
            (abs(a[1][k] - b[1][k]) for a, b in zip(got, reference) for k in b[1]), default=0.0
        )
        row = {
            "words_per_s": n_words / seconds,
            "docs_agree": same_doc / len(data),
            "ents_agree": same_ents / len(data),
            "top_cat_agree": same_cat / len(data),
            "max_cat_diff": max_diff,
        }
        result["precisions"][precision] = row
        msg.info(f"{precision}: {json.dumps(row)}")
        if json_path:
            json_path.write_text(json.dumps(result, indent=2), encoding="utf8")
    msg.good(json.dumps(result["precisions"], indent=1))
    if json_path:
        json_path.write_text(json.dumps(result, indent=2), encoding="utf8")


if __name__ == "__main__":
    app()
