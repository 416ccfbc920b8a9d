"""Does MLM pretraining of the mini encoder help fine-tuning? (benchmarks/pretraining.md)

Runs, in WORK_DIR (never in the repository):

1. the raw text of the CoNLL-2002 and EmoEvent train splits -> texts/train.txt (pretraining
   corpus), the dev splits -> texts/dev.txt (held-out MLM perplexity);
2. `build-mini` on texts/train.txt -> mini/ (random weights, vocab trained on that text);
3. `import conll2002|tsv` -> data/{train,dev}/*.spacy;
4. `pretrain` mini/ on texts/train.txt -> mini-pretrained/ (fixed step budget);
5. `spacy train configs/mini.cfg` twice, same steps and seed: on mini/ and on mini-pretrained/;
6. `spacy evaluate` both model-last on the dev splits -> results.json.

Steps whose output exists are skipped, so an interrupted run can be restarted.

    python benchmarks/pretrain_effect.py --data-dir ../shared/data --work-dir /tmp/pt-bench
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: List[str], *, log: Path) -> float:
    """Run `cmd`, tee its output to `log`, return the wall time in seconds."""
    print("$", " ".join(cmd), flush=True)
    start = time.time()
    # One thread per process: on a shared 2-core machine more threads only oversubscribe.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with log.open("w", encoding="utf8") as fileh:
        proc = subprocess.run(cmd, stdout=fileh, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}), see {log}")
    return time.time() - start


def conll_sentences(path: Path) -> List[str]:
    """Sentences of a CoNLL-2002 file, tokens joined by spaces."""
    sents, words = [], []
    with path.open(encoding="utf8") as fileh:
        for line in fileh:
            fields = line.split()
            if not fields:
                if words:
                    sents.append(" ".join(words))
                words = []
            elif fields[0] != "-DOCSTART-":
                words.append(fields[0])
    if words:
        sents.append(" ".join(words))
    return sents


def tweets(path: Path) -> List[str]:
    with path.open(encoding="utf8", newline="") as fileh:
        rows = csv.DictReader(fileh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [" ".join(row["tweet"].split()) for row in rows if row["tweet"].strip()]


def write_lines(path: Path, lines: List[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="../shared/data")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--pretrain-max-minutes", type=float, default=20.0)
    parser.add_argument("--pretrain-batch-size", type=int, default=32)
    parser.add_argument("--pretrain-lr", type=float, default=5e-4)
    parser.add_argument("--finetune-steps", type=int, default=800)
    parser.add_argument("--eval-frequency", type=int, default=200)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--arms", default="baseline,pretrained")
    args = parser.parse_args()
    data, work = args.data_dir.resolve(), args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    py = sys.executable
    timings = {}

    train_txt, dev_txt = work / "texts" / "train.txt", work / "texts" / "dev.txt"
    if not train_txt.exists():
        write_lines(
            train_txt,
            conll_sentences(data / "conll2002" / "esp.train")
            + tweets(data / "emoevent-es" / "train.tsv"),
        )
        write_lines(
            dev_txt,
            conll_sentences(data / "conll2002" / "esp.testa")
            + tweets(data / "emoevent-es" / "dev.tsv"),
        )
    mini = work / "mini"
    if not (mini / "config.json").exists():
        run(
            [py, "-m", "spacy_beto", "build-mini", str(train_txt), "--output", str(mini)]
            + ["--layers", str(args.layers), "--hidden", str(args.hidden)]
            + ["--heads", str(args.heads), "--vocab-size", str(args.vocab_size)],
            log=logs / "build-mini.log",
        )
    imports = [
        ("conll2002", "conll2002/esp.train", "train/ner.spacy", ["--skip-invalid"]),
        ("conll2002", "conll2002/esp.testa", "dev/ner.spacy", ["--skip-invalid"]),
        ("tsv", "emoevent-es/train.tsv", "train/emotion.spacy", []),
        ("tsv", "emoevent-es/dev.tsv", "dev/emotion.spacy", []),
    ]
    for kind, src, dest, extra in imports:
        out = work / "data" / dest
        if not out.exists():
            if kind == "tsv":
                extra = ["--text-col", "tweet", "--label-col", "emotion"]
            run(
                [py, "-m", "spacy_beto", "import", kind, str(data / src), str(out), *extra],
                log=logs / f"import-{dest.replace('/', '-')}.log",
            )
    arms = args.arms.split(",")
    pretrained = work / "mini-pretrained"
    if "pretrained" in arms and not (pretrained / "config.json").exists():
        timings["pretrain_s"] = run(
            [py, "-m", "spacy_beto", "pretrain", str(train_txt), "--output", str(pretrained)]
            + ["--init", str(mini), "--dev", str(dev_txt)]
            + ["--max-steps", str(args.pretrain_steps)]
            + ["--batch-size", str(args.pretrain_batch_size), "--lr", str(args.pretrain_lr)]
            + ["--max-minutes", str(args.pretrain_max_minutes)]
            + ["--eval-every", "100", "--checkpoint-every", "200", "--seed", "0"],
            log=logs / "pretrain.log",
        )
    results = {}
    for arm in arms:
        encoder = mini if arm == "baseline" else pretrained
        out = work / "training" / arm
        if not (out / "model-last").exists():
            timings[f"finetune_{arm}_s"] = run(
                [py, "-m", "spacy", "train", "configs/mini.cfg", "--output", str(out)]
                + ["--paths.train_ner", str(work / "data" / "train" / "ner.spacy")]
                + ["--paths.train_textcat", str(work / "data" / "train" / "emotion.spacy")]
                + ["--paths.dev", str(work / "data" / "dev")]
                + ["--paths.transformer", str(encoder)]
                + ["--training.max_steps", str(args.finetune_steps)]
                + ["--training.eval_frequency", str(args.eval_frequency)],
                log=logs / f"train-{arm}.log",
            )
        metrics = work / "metrics" / f"{arm}.json"
        if not metrics.exists():
            metrics.parent.mkdir(exist_ok=True)
            run(
                [py, "-m", "spacy", "evaluate", str(out / "model-last"), str(work / "data" / "dev")]
                + ["--output", str(metrics)],
                log=logs / f"evaluate-{arm}.log",
            )
        scores = json.loads(metrics.read_text())
        results[arm] = {"ents_f": scores["ents_f"], "cats_macro_f": scores["cats_macro_f"]}
        print(
            f"{arm}: entity F1 {scores['ents_f']:.4f}, emotion macro-F1 "
            f"{scores['cats_macro_f']:.4f}"
        )
    curve = pretrained / "pretrain-metrics.json"
    if curve.exists():
        results["pretraining"] = json.loads(curve.read_text())
    results["timings"] = timings
    results["args"] = {k: str(v) for k, v in vars(args).items()}
    (work / f"results-{'-'.join(arms)}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
