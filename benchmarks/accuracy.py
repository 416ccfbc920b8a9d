"""Joint vs single-task training on CoNLL-2002 + EmoEvent, class weighting, and a CNN baseline.

Reproduces benchmarks/accuracy.md in one command (the data is never copied into the repo):

    python benchmarks/accuracy.py --data-dir ../shared/data

Steps: import the corpora (invalid records reported and skipped), build the mini encoder from
the training text, fine-tune configs/mini.cfg for the same number of steps as (a) joint NER +
emotions, (b) NER only, (c) emotions only, (d) emotions only with class weighting; train
spaCy's CNN NER for the wall-clock time (b) took; evaluate everything on the dev splits with
`python -m spacy_beto report`; write a Markdown table and a JSON file.

Equal steps, equal data per head: single-task runs take batches of `--batch-words` words; a
joint step takes one batch of each task (2 x `--batch-words` words, mixed 50/50 by words), so
each head sees as many of its own words per step as in its single-task run and the only
difference is the shared encoder.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def start(cmd: List[str], *, log: Path, threads: int) -> subprocess.Popen:
    """Start a command with `threads` torch/BLAS threads, logging to `log`."""
    print("$", " ".join(cmd), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    proc.started = time.perf_counter()  # type: ignore[attr-defined]
    proc.log = log  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, *, timeout: Optional[float] = None) -> float:
    """Wait for `proc` (interrupting it at `timeout`); return its wall-clock seconds."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        proc.wait()
        return time.perf_counter() - proc.started  # type: ignore[attr-defined]
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(proc.args)}\nsee {proc.log}")
    return time.perf_counter() - proc.started  # type: ignore[attr-defined]


def run(cmd: List[str], *, log: Path, threads: int = 2) -> float:
    return finish(start(cmd, log=log, threads=threads))


# The override of configs/mini.cfg's peak learning rate (`--learn-rate`, `--finetune-lr`).
PEAK_LR = "training.optimizer.learn_rate.initial_rate"
# The encoder's learning rate as a multiple of the peak (`--finetune-encoder-scale`).
ENCODER_LR_SCALE = "components.transformer.learn_rate_scale"


def train_command(config: Path, output: Path, overrides: Dict[str, object]) -> List[str]:
    """`python -m spacy train CONFIG --output OUTPUT --key value ...` (overrides in order)."""
    cmd = [PY, "-m", "spacy", "train", str(config), "--output", str(output)]
    for name, value in overrides.items():
        cmd += [f"--{name}", str(value)]
    return cmd


def run_pool(
    commands: List[Tuple[str, List[str], Path]],
    *,
    jobs: int,
    threads: int,
    on_done: Callable[[str, float], None],
    on_start: Optional[Callable[[str], None]] = None,
) -> None:
    """Run (key, command, log) entries `jobs` at a time with `threads` threads each, in order;
    `on_start(key)` right after each one starts (e.g. to start a baseline beside it) and
    `on_done(key, wall-clock seconds)` as each one finishes (e.g. to evaluate it)."""
    pending = list(commands)
    active: Dict[str, subprocess.Popen] = {}
    while pending or active:
        while pending and len(active) < jobs:
            key, cmd, log = pending.pop(0)
            active[key] = start(cmd, log=log, threads=threads)
            if on_start is not None:
                on_start(key)
        for key in [k for k, p in active.items() if p.poll() is not None]:
            on_done(key, finish(active.pop(key)))
        if active:
            time.sleep(0.5)  # poll: wall-clock seconds are measured to ~0.5 s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "training" / "accuracy")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--eval-frequency", type=int, default=200)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=12000)
    parser.add_argument("--weighting", default="sqrt", choices=["balanced", "sqrt"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--single-seeds", type=int, default=0, help="seeds of the single-task runs (0: all)"
    )
    parser.add_argument("--batch-words", type=int, default=500, help="words per task per step")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "accuracy.md")
    parser.add_argument("--jobs", type=int, default=1, help="training runs at a time")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep finished runs (model-best and seconds.json in the work dir); train the rest",
    )
    args = parser.parse_args()

    work = args.work_dir.resolve()
    data = work / "data"
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    conll, emo = args.data_dir / "conll2002", args.data_dir / "emoevent-es"
    for path in (conll / "esp.train", conll / "esp.testa", emo / "train.tsv", emo / "dev.tsv"):
        if not path.is_file() and not (data / "train" / "ner.spacy").exists():
            sys.exit(f"{path} not found: pass --data-dir with conll2002/ and emoevent-es/")

    sp = [PY, "-m", "spacy_beto"]
    for split, conll_file, emo_file in (
        ("train", "esp.train", "train.tsv"),
        ("dev", "esp.testa", "dev.tsv"),
    ):
        if not (data / split / "ner.spacy").exists():
            out = str(data / split / "ner.spacy")
            run(sp + ["import", "conll2002", str(conll / conll_file), out, "--skip-invalid"],
                log=logs / f"import-ner-{split}.log")  # fmt: skip
        if not (data / split / "emotion.spacy").exists():
            run(sp + ["import", "tsv", str(emo / emo_file), str(data / split / "emotion.spacy"),
                      "--text-col", "tweet", "--label-col", "emotion"],
                log=logs / f"import-emo-{split}.log")  # fmt: skip
    mini = work / "mini"
    if not (mini / "config.json").exists():
        run(sp + ["build-mini", str(data / "train"), "--output", str(mini),
                  "--vocab-size", str(args.vocab_size), "--layers", str(args.layers),
                  "--hidden", str(args.hidden), "--heads", str(args.heads)],
            log=logs / "build-mini.log")  # fmt: skip

    common = [
        "--paths.train_ner", str(data / "train" / "ner.spacy"),
        "--paths.train_textcat", str(data / "train" / "emotion.spacy"),
        "--paths.transformer", str(mini),
        "--training.max_steps", str(args.steps),
        "--training.eval_frequency", str(args.eval_frequency),
    ]  # fmt: skip
    single, joint = str(args.batch_words), str(2 * args.batch_words)
    variants: Dict[str, List[str]] = {
        "joint": ["--paths.dev", str(data / "dev"), "--training.batcher.size", joint],
        "ner_only": [
            "--paths.dev", str(data / "dev" / "ner.spacy"),
            "--nlp.pipeline", '["transformer","ner"]',
            "--corpora.train.proportions.textcat", "0",
            "--training.batcher.size", single,
        ],
        "textcat_only": [
            "--paths.dev", str(data / "dev" / "emotion.spacy"),
            "--nlp.pipeline", '["transformer","textcat"]',
            "--corpora.train.proportions.ner", "0",
            "--training.batcher.size", single,
        ],
    }  # fmt: skip
    variants["textcat_weighted"] = variants["textcat_only"] + [
        "--components.textcat.class_weighting",
        args.weighting,
    ]
    runs = []  # (key, name, seed, extra)
    for name, extra in variants.items():
        n_seeds = len(args.seeds) if name == "joint" else (args.single_seeds or len(args.seeds))
        for seed in args.seeds[: 1 if name == "textcat_weighted" else n_seeds]:
            key = name if seed == args.seeds[0] else f"{name}@seed{seed}"
            runs.append((key, name, seed, extra))
    cnn = work / "cnn_ner"
    cnn_cmd = [
        PY, "-m", "spacy", "train", str(ROOT / "benchmarks" / "configs" / "cnn-ner.cfg"),
        "--output", str(cnn), "--paths.train", str(data / "train" / "ner.spacy"),
        "--paths.dev", str(data / "dev" / "ner.spacy"), "--training.max_steps", "100000",
        "--training.eval_frequency", str(args.eval_frequency),
    ]  # fmt: skip
    seconds: Dict[str, float] = {}

    def done(key: str) -> bool:
        return (
            args.reuse
            and (work / key / "model-best").exists()
            and (work / key / "seconds.json").exists()
        )

    for key in [r[0] for r in runs] + ["cnn_ner"]:
        if done(key):
            seconds[key] = json.loads((work / key / "seconds.json").read_text())
    commands = [
        (key, [PY, "-m", "spacy", "train", str(ROOT / "configs" / "mini.cfg"), "--output",
               str(work / key), *common, *extra, "--system.seed", str(seed)],
         logs / f"train-{key}.log")
        for key, _, seed, extra in runs
        if not done(key)
    ]  # fmt: skip
    cnn_proc: Optional[subprocess.Popen] = None

    def started(key: str) -> None:
        nonlocal cnn_proc
        if key == "ner_only" and args.jobs > 1:
            # spaCy's CNN NER gets exactly the NER-only run's wall-clock, side by side.
            cnn_proc = start(cnn_cmd, log=logs / "train-cnn.log", threads=args.threads)

    def finished(key: str, wall: float) -> None:
        seconds[key] = wall
        (work / key / "seconds.json").write_text(json.dumps(wall))
        if key != "ner_only":
            return
        if cnn_proc is None:
            proc = start(cnn_cmd, log=logs / "train-cnn.log", threads=args.threads)
            seconds["cnn_ner"] = finish(proc, timeout=wall)
        else:
            cnn_proc.send_signal(signal.SIGINT)
            cnn_proc.wait()
            seconds["cnn_ner"] = time.perf_counter() - cnn_proc.started  # type: ignore
        (cnn / "seconds.json").write_text(json.dumps(seconds["cnn_ner"]))

    run_pool(commands, jobs=args.jobs, threads=args.threads, on_done=finished, on_start=started)
    results: Dict[str, Dict] = {}
    reports = [(key, work / key, data / "dev" if name == "joint" else Path(extra[1]))
               for key, name, _, extra in runs]  # fmt: skip
    reports.append(("cnn_ner", cnn, data / "dev" / "ner.spacy"))
    procs = []
    for key, out, dev in reports:
        if report_done(out, reuse=args.reuse):
            continue
        cmd = sp + ["report", str(out / "model-best"), str(dev), "--output", str(out / "report"),
                    "--title", key]  # fmt: skip
        procs.append(start(cmd, log=logs / f"report-{key}.log", threads=args.threads))
        if len(procs) >= args.jobs:
            finish(procs.pop(0))
    for proc in procs:
        finish(proc)
    copies = args.output.with_suffix("")  # benchmarks/accuracy/<run>.md
    copies.mkdir(parents=True, exist_ok=True)
    for key, out, _ in reports:
        metrics = json.loads((out / "report" / "metrics.json").read_text())
        results[key] = {"seconds": seconds[key], **metrics}
        (copies / f"{key}.md").write_text((out / "report" / "report.md").read_text())
    write_outputs(results, args)


def report_done(out: Path, *, reuse: bool) -> bool:
    """With --reuse, a run's report is kept when it is newer than the run's model-best."""
    metrics = out / "report" / "metrics.json"
    model = out / "model-best" / "meta.json"
    return reuse and metrics.exists() and metrics.stat().st_mtime > model.stat().st_mtime


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _f(x: Optional[float]) -> str:
    return "–" if x is None else f"{x * 100:.2f}"


def write_outputs(results: Dict[str, Dict], args: argparse.Namespace) -> None:
    from spacy_beto.evaluation.report import aggregate

    rows = [
        ("joint", "mini transformer, NER + emotions (one batch of each per step)"),
        ("ner_only", "mini transformer, NER only"),
        ("textcat_only", "mini transformer, emotions only"),
        ("textcat_weighted", f"mini transformer, emotions only, class_weighting={args.weighting}"),
        ("cnn_ner", "spaCy CNN NER (init config -p ner), same wall-clock as NER only"),
    ]
    lines = [
        "| pipeline | seed | steps | wall-clock s | entity F1 | emotion macro-F1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in rows:
        for key in [k for k in results if k.split("@")[0] == name]:
            r = results[key]
            seed = key.split("@seed")[1] if "@seed" in key else str(args.seeds[0])
            steps = "time-boxed" if name == "cnn_ner" else str(args.steps)
            lines.append(
                f"| {label} | {seed} | {steps} | {r['seconds']:.0f} | {_f(r.get('ents_f'))} | "
                f"{_f(r.get('cats_macro_f'))} |"
            )

    def mean(name: str, metric: str) -> Dict[str, float]:
        runs = [r for k, r in results.items() if k.split("@")[0] == name]
        return {k: v * 100 for k, v in aggregate(runs, [metric])[metric].items() if k != "n"}

    n = len(args.seeds)
    joint_ner, ner = mean("joint", "ents_f"), mean("ner_only", "ents_f")
    joint_tc, tc = mean("joint", "cats_macro_f"), mean("textcat_only", "cats_macro_f")
    d_w = results["textcat_weighted"]["cats_macro_f"] - results["textcat_only"]["cats_macro_f"]
    lines += [
        "",
        f"Means ± std over {n} seed(s):",
        "",
        "| | joint | single-task | joint − single-task | target |",
        "|---|---:|---:|---:|---|",
        f"| entity F1 | {joint_ner['mean']:.2f} ± {joint_ner['std']:.2f} | "
        f"{ner['mean']:.2f} ± {ner['std']:.2f} | **{joint_ner['mean'] - ner['mean']:+.2f}** "
        "| within ±1 |",
        f"| emotion macro-F1 | {joint_tc['mean']:.2f} ± {joint_tc['std']:.2f} | "
        f"{tc['mean']:.2f} ± {tc['std']:.2f} | **{joint_tc['mean'] - tc['mean']:+.2f}** "
        "| within ±1 |",
        "",
        f"- class weighting ({args.weighting}) − none, emotion macro-F1 (seed {args.seeds[0]}): "
        f"**{d_w * 100:+.2f}** points",
    ]
    table = "\n".join(lines) + "\n"
    args.output.write_text(
        "# Accuracy: joint vs single-task, class weighting, CNN baseline\n\n"
        f"Command: `python benchmarks/accuracy.py {' '.join(sys.argv[1:])}` "
        f"(mini encoder {args.layers} layers, hidden "
        f"{args.hidden}, vocab {args.vocab_size}, built from the training text). Dev splits: "
        "CoNLL-2002 esp.testa, EmoEvent dev. Per-run reports (per type/class P/R/F, confusion "
        f"matrix) are copied to `{_rel(args.output.with_suffix(''))}/<run>.md`; with metrics "
        f"JSON and displaCy samples they are in `{_rel(args.work_dir)}/<run>/report/`. "
        "Wall-clock seconds depend on what ran beside each run (`--jobs`; with `--reuse`, "
        "finished runs keep the seconds they were measured with). Single-task steps take "
        f"{args.batch_words} words; a joint step takes {args.batch_words} words of each task.\n\n"
        + table,
        encoding="utf8",
    )
    json_path = args.output.with_suffix(".json")
    slim = {
        k: {m: v for m, v in r.items() if m != "confusion" and not isinstance(v, dict)}
        for k, r in results.items()
    }
    json_path.write_text(json.dumps(slim, indent=2), encoding="utf8")
    print(table)


if __name__ == "__main__":
    main()
