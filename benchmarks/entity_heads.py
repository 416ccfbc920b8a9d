"""Which entity head: beto_ner (transition-based) vs beto_token_ner (BILUO tags), same encoder.

    python benchmarks/entity_heads.py --work-dir training/accuracy --seeds 0 1 --jobs 2 --threads 1

Trains NER-only pipelines on CoNLL-2002 (the data and the mini encoder that
`benchmarks/accuracy.py` prepares in its work dir: `data/{train,dev}/ner.spacy`, `mini/`) with
configs/mini-transition-ner.cfg (`beto_ner`) and configs/mini.cfg (`beto_token_ner`, the default),
equal steps, equal batches, the same seeds; evaluates model-best on esp.testa with `spacy
evaluate`; writes a Markdown table (per run, mean ± std per head, per-type F1) and the raw JSON.
Finished runs are kept (`--reuse`), so an interrupted comparison resumes.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Dict, List

from accuracy import PY, ROOT, _rel, run, run_pool, train_command

HEADS = {
    "beto_ner": ROOT / "configs" / "mini-transition-ner.cfg",
    "beto_token_ner": ROOT / "configs" / "mini.cfg",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=ROOT / "training" / "accuracy")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-frequency", type=int, default=250)
    parser.add_argument("--batch-words", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--jobs", type=int, default=1, help="training runs at a time")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "entity_heads.md")
    parser.add_argument(
        "--head",
        action="append",
        default=[],
        metavar="NAME=CONFIG",
        help="another pipeline config to compare (repeatable)",
    )
    args = parser.parse_args()
    heads = dict(HEADS)
    for spec in args.head:
        name, _, config = spec.partition("=")
        if not name or not Path(config).is_file():
            sys.exit(f"--head {spec!r}: give NAME=CONFIG with an existing config file")
        heads[name] = Path(config).resolve()

    work = args.work_dir.resolve()
    data, mini = work / "data", work / "mini"
    for path in (data / "train" / "ner.spacy", data / "dev" / "ner.spacy", mini / "config.json"):
        if not path.exists():
            sys.exit(f"{path} not found: run benchmarks/accuracy.py first (or pass --work-dir)")
    out_dir, logs = work / "entity_heads", work / "entity_heads" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    runs = [(head, seed) for seed in args.seeds for head in heads]
    commands = []
    for head, seed in runs:
        key = _key(head, seed)
        if args.reuse and _done(out_dir / key):
            continue
        overrides = {
            "paths.train_ner": data / "train" / "ner.spacy",
            "paths.train_textcat": data / "train" / "emotion.spacy",
            "paths.dev": data / "dev" / "ner.spacy",
            "paths.transformer": mini,
            "nlp.pipeline": '["transformer","ner"]',
            "corpora.train.proportions.textcat": 0,
            "training.batcher.size": args.batch_words,
            "training.max_steps": args.steps,
            "training.eval_frequency": args.eval_frequency,
            "system.seed": seed,
        }
        cmd = train_command(heads[head], out_dir / key, overrides)
        commands.append((key, cmd, logs / f"train-{key}.log"))

    def evaluate(key: str, seconds: float) -> None:
        metrics = out_dir / key / "metrics.json"
        run([PY, "-m", "spacy", "evaluate", str(out_dir / key / "model-best"),
             str(data / "dev" / "ner.spacy"), "--output", str(metrics)],
            log=logs / f"evaluate-{key}.log", threads=args.threads)  # fmt: skip
        (out_dir / key / "seconds.json").write_text(json.dumps(seconds))

    run_pool(commands, jobs=args.jobs, threads=args.threads, on_done=evaluate)
    results = {}
    for head, seed in runs:
        key = _key(head, seed)
        metrics = json.loads((out_dir / key / "metrics.json").read_text())
        results[key] = {
            "head": head,
            "seed": seed,
            "seconds": json.loads((out_dir / key / "seconds.json").read_text()),
            "ents_p": metrics["ents_p"],
            "ents_r": metrics["ents_r"],
            "ents_f": metrics["ents_f"],
            "per_type_f": {t: v["f"] for t, v in metrics["ents_per_type"].items()},
        }
    write_outputs(results, args, heads)


def _key(head: str, seed: int) -> str:
    return f"{head}@seed{seed}"


def _done(run_dir: Path) -> bool:
    return (run_dir / "metrics.json").exists() and (run_dir / "seconds.json").exists()


def write_outputs(
    results: Dict[str, Dict], args: argparse.Namespace, heads: Dict[str, Path]
) -> None:
    lines = [
        "| head | seed | wall-clock s | P | R | entity F1 | " + " | ".join(_types(results)) + " |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * len(_types(results)),
    ]
    for r in results.values():
        per_type = " | ".join(f"{r['per_type_f'].get(t, 0) * 100:.2f}" for t in _types(results))
        lines.append(
            f"| {r['head']} | {r['seed']} | {r['seconds']:.0f} | {r['ents_p'] * 100:.2f} | "
            f"{r['ents_r'] * 100:.2f} | {r['ents_f'] * 100:.2f} | {per_type} |"
        )
    lines += ["", "| head | entity F1, mean ± std | runs |", "|---|---:|---:|"]
    means: Dict[str, float] = {}
    for head in heads:
        scores = [r["ents_f"] * 100 for r in results.values() if r["head"] == head]
        means[head] = statistics.mean(scores)
        std = statistics.stdev(scores) if len(scores) > 1 else 0.0
        lines.append(f"| {head} | {means[head]:.2f} ± {std:.2f} | {len(scores)} |")
    lines += [""] + [
        f"{head} − beto_ner: **{means[head] - means['beto_ner']:+.2f}** entity F1 (seed mean)."
        for head in heads
        if head != "beto_ner"
    ]
    lines += ["", "Configs: " + ", ".join(f"{h} `{_rel(c)}`" for h, c in heads.items()) + "."]
    table = "\n".join(lines) + "\n"
    args.output.write_text(
        "# Entity heads: beto_ner vs beto_token_ner (CoNLL-2002, NER only, same mini encoder)\n\n"
        f"Command: `python benchmarks/entity_heads.py {' '.join(sys.argv[1:])}` — "
        f"{args.steps} steps of {args.batch_words} words, model-best on esp.testa "
        "(`spacy evaluate`). Wall-clock depends on what ran beside each run (`--jobs`).\n\n"
        + table,
        encoding="utf8",
    )
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=2), encoding="utf8")
    print(table)


def _types(results: Dict[str, Dict]) -> List[str]:
    return sorted({t for r in results.values() for t in r["per_type_f"]})


if __name__ == "__main__":
    main()
