"""Training throughput (words/s) of a config, e.g. configs/beto.cfg on a BETO-shaped model.

Builds the pipeline from the config exactly as `spacy train` does, runs `--steps` updates on the
configured training corpus and reports words per second after `--warmup` steps. On CPU this
doubles as a check that the real-BETO config trains on a BERT-base-shaped model:

    python -m spacy_beto build-mini --vocab ../shared/beto/cased/vocab.txt --layers 12 \\
        --hidden 768 --heads 12 --output assets/beto-shaped
    python benchmarks/train_throughput.py configs/beto.cfg --transformer assets/beto-shaped \\
        --train-ner NER.spacy --train-textcat EMO.spacy --steps 6 --warmup 2
    # on a GPU: add --gpu-id 0 --mixed-precision
"""

import argparse
import json
import platform
import time
from pathlib import Path

import spacy
from spacy.training.initialize import init_nlp
from spacy.util import load_config, registry, resolve_dot_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--transformer", required=True)
    parser.add_argument("--train-ner", required=True)
    parser.add_argument("--train-textcat", required=True)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    use_gpu = args.gpu_id
    if use_gpu >= 0:
        spacy.require_gpu(use_gpu)
    overrides = {
        "paths.transformer": args.transformer,
        "paths.train_ner": args.train_ner,
        "paths.train_textcat": args.train_textcat,
        "paths.dev": args.train_ner,
        "components.transformer.model.mixed_precision": args.mixed_precision,
    }
    config = load_config(args.config, overrides=overrides, interpolate=False)
    nlp = init_nlp(config, use_gpu=use_gpu)
    T = registry.resolve(nlp.config.interpolate()["training"])
    (train_corpus,) = resolve_dot_names(nlp.config.interpolate(), [T["train_corpus"]])
    optimizer = T["optimizer"]
    batches = T["batcher"](train_corpus(nlp))
    sync = _synchronizer(use_gpu)
    words = 0
    start = None
    losses: dict = {}
    for step, batch in enumerate(batches):
        if step == args.warmup:
            sync()
            start, words = time.perf_counter(), 0
        nlp.update(batch, sgd=optimizer, drop=T["dropout"], losses=losses)
        words += sum(len(eg.reference) for eg in batch)
        if step + 1 == args.warmup + args.steps:
            break
    sync()
    seconds = time.perf_counter() - start
    result = {
        "config": str(args.config),
        "transformer": args.transformer,
        "device": _device_name(use_gpu),
        "mixed_precision": args.mixed_precision,
        "steps": args.steps,
        "words": words,
        "seconds": round(seconds, 2),
        "words_per_s": round(words / seconds, 1),
        "final_losses": {k: float(v) for k, v in losses.items()},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


def _synchronizer(gpu_id: int):
    if gpu_id < 0:
        return lambda: None
    import torch

    return torch.cuda.synchronize


def _device_name(gpu_id: int) -> str:
    if gpu_id < 0:
        import torch

        return (
            f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        )
    import torch

    return torch.cuda.get_device_name(gpu_id)


if __name__ == "__main__":
    main()
