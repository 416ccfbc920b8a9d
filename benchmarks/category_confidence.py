"""Category confidence of emotion classifiers trained to the end: ECE before/after temperature
scaling, fitted on tweets held out from training, measured on all of EmoEvent dev.

    python benchmarks/category_confidence.py --work-dir W --encoder random=W/mini \\
        --encoder pretrained=W/mini-pretrained-cont --seeds 0 1 --jobs 2 --threads 1

`W` is a `benchmarks/accuracy.py` work dir (`data/{train,dev}/emotion.spacy`: EmoEvent train /
dev as imported there). `--holdout` tweets of train (a seeded random sample, the same for every
run) are never trained on: calibration is fitted on them, as `python -m spacy_beto calibrate`
does. Each run trains configs/mini.cfg with the text classifier only (`--steps` steps of
`--batch-words` words) from an encoder; `model-last` (not model-best: dev chooses nothing) is
scored on the whole dev set before and after calibration. Per run: macro-F1, accuracy, ECE of the
top class's probability (10 bins) before and after, the ECE a perfectly calibrated model shows on
as many tweets (noise floor), and a paired bootstrap over dev tweets (1,000 resamples) of ECE
after − before. Finished runs are kept (`--reuse`). `--learn-rate` overrides the config's peak
learning rate. With two encoders and the same seeds, the macro-F1 columns are also issue 16's
emotion comparison at equal steps (text classifier only).
"""

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List

from accuracy import PEAK_LR, PY, ROOT, run, run_pool, train_command

N_BOOT = 1000


def split_train(train: Path, out: Path, holdout: int) -> Dict[str, Path]:
    """`train` split into fit.spacy and holdout.spacy (seeded, reused if present)."""
    import spacy
    from spacy.tokens import DocBin

    paths = {"fit": out / "fit.spacy", "holdout": out / "holdout.spacy"}
    if all(p.exists() for p in paths.values()):
        return paths
    docs = list(DocBin().from_disk(train).get_docs(spacy.blank("es").vocab))
    if holdout >= len(docs):
        sys.exit(f"--holdout {holdout}: {train} has only {len(docs)} documents")
    order = list(range(len(docs)))
    random.Random(0).shuffle(order)
    held = set(order[:holdout])
    out.mkdir(parents=True, exist_ok=True)
    DocBin(docs=[d for i, d in enumerate(docs) if i not in held]).to_disk(paths["fit"])
    DocBin(docs=[d for i, d in enumerate(docs) if i in held]).to_disk(paths["holdout"])
    return paths


def top_class(labels: List[str], examples: List[Any]) -> Dict[str, Any]:
    """Per example with a gold class: the top class's probability in its predicted doc and
    whether that class is the gold one."""
    import numpy

    scores, correct = [], []
    for eg in examples:
        gold = [eg.reference.cats.get(label, 0.0) for label in labels]
        if max(gold) < 1.0:
            continue
        probs = [eg.predicted.cats.get(label, 0.0) for label in labels]
        scores.append(max(probs))
        correct.append(int(numpy.argmax(probs)) == int(numpy.argmax(gold)))
    return {"scores": numpy.asarray(scores), "correct": numpy.asarray(correct)}


def measure(model: Path, holdout: Path, dev: Path, seed: int) -> Dict[str, Any]:
    import numpy
    import spacy
    from spacy.util import registry

    from spacy_beto.evaluation.confidence import (
        calibrate_pipeline,
        ece_uncertainty,
        expected_calibration_error,
    )
    from spacy_beto.evaluation.report import evaluate_pipeline

    nlp = spacy.load(model)
    read = registry.readers.get("spacy-beto.Corpus.v1")
    dev_egs = list(read(dev, gold_preproc=False)(nlp))
    cal_egs = list(read(holdout, gold_preproc=False)(nlp))
    textcat = nlp.get_pipe("textcat")
    textcat.set_calibration(None)
    scores = evaluate_pipeline(nlp, dev_egs)  # sets each example's predicted doc
    before = top_class(list(textcat.labels), dev_egs)
    fitted = calibrate_pipeline(nlp, cal_egs)["textcat"]
    evaluate_pipeline(nlp, dev_egs)
    after = top_class(list(textcat.labels), dev_egs)
    assert (before["correct"] == after["correct"]).all()  # temperature keeps the argmax
    correct = before["correct"]
    rng = numpy.random.RandomState(seed)
    diffs = []
    for _ in range(N_BOOT):
        idx = rng.randint(0, len(correct), len(correct))
        diffs.append(
            expected_calibration_error(after["scores"][idx], correct[idx])
            - expected_calibration_error(before["scores"][idx], correct[idx])
        )
    noise = ece_uncertainty(after["scores"], correct, n_samples=200)
    return {
        "n_dev": int(len(correct)),
        "n_holdout": len(cal_egs),
        "macro_f": scores["cats_macro_f"],
        "accuracy": float(correct.mean()),
        "temperature": fitted["t"],
        "ece_before": expected_calibration_error(before["scores"], correct),
        "ece_after": expected_calibration_error(after["scores"], correct),
        "noise_floor": noise["noise_mean"],
        "diff_p05": float(numpy.percentile(diffs, 5)),
        "diff_p95": float(numpy.percentile(diffs, 95)),
        "after_lower": float(numpy.mean(numpy.asarray(diffs) < 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--encoder", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-words", type=int, default=500)
    parser.add_argument(
        "--learn-rate", type=float, default=None, help="peak learning rate (default: the config's)"
    )
    parser.add_argument("--holdout", type=int, default=1500, help="train tweets held out")
    parser.add_argument("--jobs", type=int, default=1, help="training runs at a time")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "category_confidence.md"
    )
    args = parser.parse_args()
    encoders = dict(spec.partition("=")[::2] for spec in args.encoder)
    for name, path in encoders.items():
        if not name or not (Path(path) / "config.json").exists():
            sys.exit(f"--encoder {name}={path}: give NAME=PATH of an encoder directory")
    work = args.work_dir.resolve()
    data = work / "data"
    out_dir = work / "category_confidence"
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    split = split_train(data / "train" / "emotion.spacy", out_dir / "data", args.holdout)
    dev = data / "dev" / "emotion.spacy"
    runs = [(name, seed) for seed in args.seeds for name in encoders]
    seed_of = {key(name, seed): seed for name, seed in runs}
    commands = []
    for name, seed in runs:
        k = key(name, seed)
        if args.reuse and (out_dir / k / "result.json").exists():
            continue
        overrides = {
            "paths.train_ner": data / "train" / "ner.spacy",
            "paths.train_textcat": split["fit"],
            "paths.dev": dev,
            "paths.transformer": Path(encoders[name]).resolve(),
            "nlp.pipeline": '["transformer","textcat"]',
            "corpora.train.proportions.ner": 0,
            "training.batcher.size": args.batch_words,
            "training.max_steps": args.steps,
            "training.eval_frequency": args.steps,
            "system.seed": seed,
        }
        if args.learn_rate is not None:
            overrides[PEAK_LR] = args.learn_rate
        cmd = train_command(ROOT / "configs" / "mini.cfg", out_dir / k, overrides)
        commands.append((k, cmd, logs / f"train-{k}.log"))

    def evaluate(k: str, seconds: float) -> None:
        (out_dir / k / "seconds.json").write_text(json.dumps(seconds))
        run([PY, __file__, "--measure-only", str(out_dir / k / "model-last"),
             str(split["holdout"]), str(dev), str(seed_of[k]),
             str(out_dir / k / "result.json")],
            log=logs / f"measure-{k}.log", threads=args.threads)  # fmt: skip

    run_pool(commands, jobs=args.jobs, threads=args.threads, on_done=evaluate)
    results = {}
    for name, seed in runs:
        k = key(name, seed)
        results[k] = dict(json.loads((out_dir / k / "result.json").read_text()), encoder=name)
        results[k]["seed"] = seed
        results[k]["seconds"] = json.loads((out_dir / k / "seconds.json").read_text())
    write_outputs(results, args, encoders)


def key(name: str, seed: int) -> str:
    return f"{name}@seed{seed}"


def write_outputs(results: Dict[str, Dict], args: argparse.Namespace, encoders: Dict) -> None:
    def pct(x: float) -> str:
        return f"{100 * x:.2f}"

    lines = [
        "# Category confidence: temperature scaling of emotion classifiers trained to the end",
        "",
        f"Command: `python benchmarks/category_confidence.py {' '.join(sys.argv[1:])}` — "
        f"configs/mini.cfg, text classifier only, {args.steps} steps of {args.batch_words} words, "
        f"peak lr {args.learn_rate or 'of the config'}, model-last; temperature fitted on "
        f"{args.holdout} EmoEvent train tweets held out from "
        "training; everything below on all of EmoEvent dev. Encoders: "
        + ", ".join(f"{n} `{p}`" for n, p in encoders.items())
        + ".",
        "",
        "| encoder | seed | train s | macro-F1 | accuracy | T | ECE before | ECE after "
        "| noise floor | after − before (5th–95th pct) | P(after < before) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.values():
        lines.append(
            f"| {r['encoder']} | {r['seed']} | {r['seconds']:.0f} | {pct(r['macro_f'])} "
            f"| {pct(r['accuracy'])} | {r['temperature']:.3f} | {pct(r['ece_before'])} "
            f"| **{pct(r['ece_after'])}** | {pct(r['noise_floor'])} "
            f"| {pct(r['diff_p05'])} – {pct(r['diff_p95'])} | {r['after_lower']:.3f} |"
        )
    lines += [
        "",
        "| encoder | macro-F1 mean ± std | ECE before | ECE after |",
        "|---|---:|---:|---:|",
    ]
    for name in encoders:
        rs = [r for r in results.values() if r["encoder"] == name]
        f1 = [100 * r["macro_f"] for r in rs]
        std = statistics.stdev(f1) if len(f1) > 1 else 0.0
        lines.append(
            f"| {name} | {statistics.mean(f1):.2f} ± {std:.2f} "
            f"| {pct(statistics.mean(r['ece_before'] for r in rs))} "
            f"| {pct(statistics.mean(r['ece_after'] for r in rs))} |"
        )
    text = "\n".join(lines) + "\n"
    args.output.write_text(text, encoding="utf8")
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=2), encoding="utf8")
    print(text)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--measure-only":
        model, holdout, dev, seed, out = sys.argv[2:7]
        result = measure(Path(model), Path(holdout), Path(dev), int(seed))
        Path(out).write_text(json.dumps(result, indent=2))
    else:
        main()
