"""Does MLM pretraining of the mini encoder help fine-tuning? (benchmarks/pretraining.md)

One command, on a CPU or a GPU, with wall-clock budgets (the data is never copied into the
repository; everything is written to WORK_DIR and the results to OUT_DIR):

    python benchmarks/pretrain_effect.py --data-dir ../shared/data --work-dir /tmp/pt \\
        --out /tmp/pt/out --gpu-id 0 --pretrain-seconds 180 --finetune-seconds 240

1. Text: CoNLL-2002 `esp.train` tokens joined into sentences, grouped into news articles (an
   article starts at a sentence with "( EFE )" in its first words), and the EmoEvent
   `train.tsv` tweets, one document each -> texts/conll.txt, texts/tweets.txt (documents end
   with a blank line). The dev splits (`esp.testa`, `dev.tsv`), extracted the same way, are
   the held-out MLM text -> texts/dev.txt; they are never pretrained on (the fine-tuned
   pipelines are scored on them), unless --pretrain-on-dev.
2. Labelled data and encoder exactly as `benchmarks/accuracy.py`: `import conll2002
   --skip-invalid` / `import tsv` -> data/{train,dev}/{ner,emotion}.spacy, then `build-mini
   data/train` (4 layers, hidden 256, 4 heads, vocab 12,000, seed 0): random weights.
3. Pretraining for a fixed wall-clock budget (--pretrain-seconds, all included): a short
   calibration run measures steps/s, then the real run gets the number of steps that fits, so
   its learning-rate schedule ends on time (`--max-minutes` is a hard stop behind it).
   --pretrain-steps N instead runs exactly N steps whatever the machine's load (reproducible;
   an interrupted run resumes from its last checkpoint when the command is run again).
   --pretrained DIR skips this step and fine-tunes from an encoder `pretrain` already wrote
   (e.g. one continued from an earlier run with `pretrain --init`).
   -> OUT/mini-pretrained/ (model directory) and OUT/pretrain-metrics.json (held-out
   perplexity curve, unigram baseline on the same masked pieces).
4. Fine-tuning `configs/mini.cfg` (joint NER + emotions) from the random and the pretrained
   encoder, seeds --seeds, all at once (on one GPU with --gpu-id), the same number of steps for
   all: a calibration run measures the steps that fit in --finetune-seconds (or give
   --finetune-steps). spaCy's CNN NER (benchmarks/configs/cnn-ner.cfg) trains side by side for
   the same wall-clock. --finetune-lr sets the peak learning rate of both arms (default: the
   config's 5e-4; each arm's best rate is a sweep of this option); --finetune-encoder-scale
   sets the encoder's rate as a multiple of it (the transformer's `learn_rate_scale`; the heads
   keep the peak rate); --random-lr / --random-encoder-scale give the random arm its own
   (each arm at its best setting). A run is trained into
   WORK/training/ARM@seedS-NSTEPSsteps-lrLR-encSCALE; one that finished there with the same
   encoder and settings is reused (runs are seeded and step-based). `spacy evaluate` of
   model-last (equal steps) and model-best on the dev splits -> OUT/finetune-scores.json.

`python benchmarks/pretrain_table.py OUT` turns OUT into the Markdown tables of
benchmarks/pretraining.md. Steps whose output exists in WORK_DIR are reused.
"""

import argparse
import csv
import json
import logging
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from accuracy import ENCODER_LR_SCALE, PEAK_LR, PY, ROOT, run, start, train_command
from spacy.util import load_config
from thinc.api import Config

MINI_CFG = ROOT / "configs" / "mini.cfg"
ROW = re.compile(r"^\s*\d+\s+(\d+)\s+\d")  # a spaCy ConsoleLogger row: epoch, step, losses...


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---------------------------------------------------------------------------------- text


def conll_documents(path: Path) -> List[List[str]]:
    """Sentences of a CoNLL-2002 file (tokens joined by spaces), grouped into articles."""
    sents: List[List[str]] = []
    words: List[str] = []
    with path.open(encoding="utf8") as fileh:
        for line in fileh:
            fields = line.split()
            if not fields:
                if words:
                    sents.append(words)
                words = []
            elif fields[0] != "-DOCSTART-":
                words.append(fields[0])
    if words:
        sents.append(words)
    docs: List[List[str]] = []
    for sent in sents:
        if not docs or "EFE" in sent[:12]:
            docs.append([])
        docs[-1].append(" ".join(sent))
    return docs


def tweets(path: Path) -> List[List[str]]:
    with path.open(encoding="utf8", newline="") as fileh:
        rows = csv.DictReader(fileh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [[" ".join(row["tweet"].split())] for row in rows if row["tweet"].strip()]


def write_docs(path: Path, docs: Sequence[Sequence[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\n".join(doc) + "\n\n" for doc in docs), encoding="utf8")


def prepare(args: argparse.Namespace, work: Path, logs: Path) -> Tuple[List[Path], Path, Path]:
    """Texts, labelled data, random mini encoder: (pretraining files, dev text, mini dir)."""
    data_in = args.data_dir.resolve()
    conll, emo = data_in / "conll2002", data_in / "emoevent-es"
    texts = work / "texts"
    train_files = [texts / "conll.txt", texts / "tweets.txt"]
    dev_txt = texts / "dev.txt"
    if not dev_txt.exists():
        train_conll = conll_documents(conll / "esp.train")
        train_tweets = tweets(emo / "train.tsv")
        dev_docs = conll_documents(conll / "esp.testa") + tweets(emo / "dev.tsv")
        if args.pretrain_on_dev:
            train_conll += conll_documents(conll / "esp.testa")
            train_tweets += tweets(emo / "dev.tsv")
        write_docs(train_files[0], train_conll)
        write_docs(train_files[1], train_tweets)
        write_docs(dev_txt, dev_docs)
    data = work / "data"
    sp = [PY, "-m", "spacy_beto"]
    for split, conll_file, emo_file in (("train", "esp.train", "train.tsv"),
                                        ("dev", "esp.testa", "dev.tsv")):  # fmt: skip
        if not (data / split / "ner.spacy").exists():
            run(sp + ["import", "conll2002", str(conll / conll_file),
                      str(data / split / "ner.spacy"), "--skip-invalid"],
                log=logs / f"import-ner-{split}.log", threads=args.threads)  # fmt: skip
        if not (data / split / "emotion.spacy").exists():
            run(sp + ["import", "tsv", str(emo / emo_file), str(data / split / "emotion.spacy"),
                      "--text-col", "tweet", "--label-col", "emotion"],
                log=logs / f"import-emo-{split}.log", threads=args.threads)  # fmt: skip
    mini = work / "mini"
    if not (mini / "config.json").exists():
        run(sp + ["build-mini", str(data / "train"), "--output", str(mini),
                  "--vocab-size", str(args.vocab_size), "--layers", str(args.layers),
                  "--hidden", str(args.hidden), "--heads", str(args.heads)],
            log=logs / "build-mini.log", threads=args.threads)  # fmt: skip
    return train_files, dev_txt, mini


# --------------------------------------------------------------------------- pretraining


def pretrain_budgeted(
    args: argparse.Namespace, files: List[Path], dev: Path, mini: Path, work: Path, out: Path
) -> Path:
    """Pretrain for args.pretrain_seconds in all: calibrate steps/s, then run that many steps."""
    import torch

    from spacy_beto.pretrain import PretrainConfig, pretrain

    target = work / "mini-pretrained"
    if (target / "config.json").exists():
        metrics_file = target / "pretrain-metrics.json"
        done = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        if args.pretrain_steps and done.get("planned_steps") != args.pretrain_steps:
            sys.exit(f"{target} holds a finished pretraining of {done.get('planned_steps')} "
                     f"planned steps, not --pretrain-steps {args.pretrain_steps}: remove it or "
                     "give another --work-dir.")  # fmt: skip
        say(f"reusing {target} (remove it to pretrain again)")
        return target
    torch.set_num_threads(max(args.threads, 1))
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    device = "cpu" if args.gpu_id < 0 else f"cuda:{args.gpu_id}"
    common = dict(
        batch_size=args.pretrain_batch_size,
        lr=args.pretrain_lr,
        max_length=args.max_length,
        schedule=args.schedule,
        pack=args.pack,
        chunk_lines=args.chunk_lines,
        seed=0,
        device=device,
        log_every=args.log_every,
    )
    began = time.perf_counter()
    if args.pretrain_steps:  # exactly N steps: the result does not depend on the load
        steps, extra = args.pretrain_steps, {}
        checkpoint_every, max_minutes = max(steps // args.curve_points, 1), None
        say(f"pretraining {steps} steps (resuming from {target}/checkpoints if there are any)")
    else:
        steps, left, extra = calibrated_steps(args, files, dev, mini, work, common, began)
        checkpoint_every, max_minutes = max(steps // 2, 1), max(left, 1.0) / 60
    cfg = PretrainConfig(
        max_steps=steps,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=1,
        eval_every=max(steps // args.curve_points, 1),
        dev_max_lines=args.dev_max_lines,
        max_minutes=max_minutes,
        **common,  # type: ignore[arg-type]
    )
    result = pretrain(files, output=target, init=str(mini), dev=dev, config=cfg,
                      resume=bool(args.pretrain_steps))  # fmt: skip
    metrics = json.loads((target / "pretrain-metrics.json").read_text())
    # this invocation, plus the training that earlier invocations did up to the checkpoint
    # it resumed from (steps redone after an interruption are counted once)
    earlier = metrics.get("seconds_all_runs", 0.0) - metrics.get("seconds_this_run", 0.0)
    metrics.update(
        planned_steps=steps, **extra,
        seconds_in_all=round(time.perf_counter() - began + earlier, 1),
    )  # fmt: skip
    (target / "pretrain-metrics.json").write_text(json.dumps(metrics, indent=2))
    say(f"pretrained {result.steps} steps: {result.curve[-1] if result.curve else ''}")
    return target


def calibrated_steps(
    args: argparse.Namespace, files: List[Path], dev: Path, mini: Path, work: Path,
    common: Dict[str, object], began: float,
) -> Tuple[int, float, Dict[str, float]]:  # fmt: skip
    """(steps that fit args.pretrain_seconds, seconds left, calibration metrics): from a short
    calibration run's ms/step and one timed held-out evaluation."""
    import torch

    from spacy_beto.pretrain import PretrainConfig, pretrain
    from spacy_beto.pretrain.trainer import _dev_batches, _dev_point, load_model

    device = str(common["device"])
    times: List[float] = []
    calib = work / "pretrain-calibration"
    shutil.rmtree(calib, ignore_errors=True)
    pretrain(
        files,
        output=calib,
        init=str(mini),
        config=PretrainConfig(
            max_steps=args.calibration_steps,
            checkpoint_every=10**9,
            eval_every=10**9,
            **common,  # type: ignore[arg-type]
        ),
        on_step=lambda step: times.append(time.perf_counter()),
    )
    skip = min(5, len(times) // 2)  # the first steps include start-up work
    per_step = (times[-1] - times[skip]) / max(len(times) - 1 - skip, 1)
    # The held-out evaluations (curve_points + 1 of them) come out of the budget too.
    eval_cfg = PretrainConfig(
        dev_max_lines=args.dev_max_lines, device=device, **{k: common[k] for k in ("batch_size",
        "max_length", "pack")})  # fmt: skip
    model, tokenizer = load_model(init=str(calib), config_dir=None, seed=0)
    model.to(device)
    eval_cfg.bf16 = device != "cpu" and torch.cuda.is_bf16_supported()
    t_eval = time.perf_counter()
    _dev_point(model, _dev_batches(dev, tokenizer, eval_cfg), eval_cfg, step=0, train_loss=None)
    eval_s = time.perf_counter() - t_eval
    del model
    shutil.rmtree(calib, ignore_errors=True)
    left = args.pretrain_seconds - (time.perf_counter() - began)
    train_s = left - (args.curve_points + 1) * eval_s - 5  # 5 s: start-up and final save
    steps = max(int(0.9 * train_s / per_step), 10)
    say(f"pretraining: {per_step * 1000:.0f} ms/step, {eval_s:.1f} s per dev evaluation "
        f"measured; {steps} steps in {left:.0f} s")  # fmt: skip
    extra = {"calibration_ms_per_step": round(per_step * 1000, 2),
             "budget_seconds": args.pretrain_seconds}  # fmt: skip
    return steps, left, extra


def export_pretrained(target: Path, out: Path) -> None:
    """The model directory (without checkpoints) and its metrics into OUT."""
    dest = out / "mini-pretrained"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(target, dest, ignore=shutil.ignore_patterns("checkpoints"))
    shutil.copy(target / "pretrain-metrics.json", out / "pretrain-metrics.json")


# ---------------------------------------------------------------------------- fine-tuning


class Arm(NamedTuple):
    """One fine-tuning run: encoder, seed and the arm's own learning-rate settings."""

    name: str  # "random@seed0", the key of finetune-scores.json
    encoder: Path
    seed: int
    lr: Optional[float]  # None: configs/mini.cfg's
    encoder_scale: Optional[float]  # None: the config's 1.0

    def run_dir(self, work: Path, steps: int) -> Path:
        """training/random@seed0-800steps-lr0.003-enc1.0: one directory per setting."""
        lr = "config" if self.lr is None else self.lr
        scale = "config" if self.encoder_scale is None else self.encoder_scale
        return work / "training" / f"{self.name}-{steps}steps-lr{lr}-enc{scale}"


def arm_settings(args: argparse.Namespace, arm: str) -> Tuple[Optional[float], Optional[float]]:
    """(peak lr, encoder scale) of an arm: --random-lr / --random-encoder-scale for the random
    encoder where given (each arm at its own best setting), else the --finetune-* ones."""
    lr, scale = args.finetune_lr, args.finetune_encoder_scale
    if arm == "random":
        lr = args.random_lr if args.random_lr is not None else lr
        scale = args.random_encoder_scale if args.random_encoder_scale is not None else scale
    return lr, scale


def train_cmd(
    args: argparse.Namespace, work: Path, arm: Arm, out: Path, steps: int, eval_frequency: int
) -> List[str]:
    data = work / "data"
    overrides: Dict[str, object] = {
        "paths.train_ner": data / "train" / "ner.spacy",
        "paths.train_textcat": data / "train" / "emotion.spacy",
        "paths.dev": data / "dev",
        "paths.transformer": arm.encoder,
        "training.max_steps": steps,
        "training.eval_frequency": eval_frequency,
        "training.batcher.size": 2 * args.batch_words,
        "system.seed": arm.seed,
    }
    if arm.lr is not None:
        overrides[PEAK_LR] = arm.lr
    if arm.encoder_scale is not None:
        overrides[ENCODER_LR_SCALE] = arm.encoder_scale
    cmd = train_command(MINI_CFG, out, overrides)
    return cmd + ["--gpu-id", str(args.gpu_id)]


def row_times(log: Path) -> Dict[int, float]:
    """{step: time first seen} for the ConsoleLogger rows of a log (polled by the caller)."""
    found: Dict[int, float] = {}
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            match = ROW.match(line)
            if match:
                found.setdefault(int(match.group(1)), time.perf_counter())
    return found


def run_together(procs: Dict[str, subprocess.Popen], logs: Dict[str, Path]) -> Dict[str, Dict]:
    """Wait for all; poll their logs to time each evaluation row. {name: {step: seconds}}."""
    t0 = time.perf_counter()
    seen: Dict[str, Dict[int, float]] = {name: {} for name in procs}
    while any(p.poll() is None for p in procs.values()):
        time.sleep(0.5)
        for name in procs:
            for step, when in row_times(logs[name]).items():
                seen[name].setdefault(step, when - t0)
    for name, proc in procs.items():
        if proc.returncode != 0:
            sys.exit(f"failed ({proc.returncode}): see {logs[name]}")
        for step in row_times(logs[name]):
            seen[name].setdefault(step, time.perf_counter() - t0)
    return seen


def arms(args: argparse.Namespace, encoders: Dict[str, Path]) -> List[Arm]:
    return [
        Arm(f"{arm}@seed{seed}", enc, seed, *arm_settings(args, arm))
        for arm, enc in encoders.items()
        for seed in args.seeds
    ]


def finished(arm: Arm, target: Path, steps: int) -> bool:
    """Has `target` a model-last trained with exactly `arm`'s settings? (Then it is reused:
    the runs are seeded and step-based, so a rerun would give the same model.)"""
    cfg_path = target / "model-last" / "config.cfg"
    if not cfg_path.exists():
        return False
    cfg = load_config(cfg_path, interpolate=False)
    wanted_rate = arm.lr if arm.lr is not None else peak_lr(load_config(MINI_CFG))
    return (
        Path(cfg["paths"]["transformer"]) == arm.encoder
        and cfg["system"]["seed"] == arm.seed
        and cfg["training"]["max_steps"] == steps
        and peak_lr(cfg) == wanted_rate
        and cfg["components"]["transformer"].get("learn_rate_scale", 1.0)
        == (1.0 if arm.encoder_scale is None else arm.encoder_scale)
    )


def peak_lr(cfg: Config) -> float:
    return cfg["training"]["optimizer"]["learn_rate"]["initial_rate"]


def finetune_steps(args: argparse.Namespace, work: Path, encoders: Dict[str, Path]) -> int:
    """Steps that fit args.finetune_seconds when all arms run at once: from a calibration
    run of 2 x K steps (evaluating at K and 2K), timed by their log rows."""
    if args.finetune_steps:
        return args.finetune_steps
    k = args.calibration_finetune_steps
    logs_dir = work / "logs"
    procs, logs = {}, {}
    began = time.perf_counter()
    for arm in arms(args, encoders):
        out = work / "calibration" / arm.name
        shutil.rmtree(out, ignore_errors=True)
        logs[arm.name] = logs_dir / f"calibrate-{arm.name}.log"
        procs[arm.name] = start(train_cmd(args, work, arm, out, 2 * k, k),
                                log=logs[arm.name], threads=args.threads)  # fmt: skip
    seen = run_together(procs, logs)
    elapsed = time.perf_counter() - began
    shutil.rmtree(work / "calibration", ignore_errors=True)
    missing = [name for name, rows in seen.items() if not {k, 2 * k} <= set(rows)]
    if missing:
        sys.exit(f"calibration: no evaluation rows at steps {k} and {2 * k} in the logs of "
                 f"{missing} (see {logs_dir}); give --finetune-steps instead.")  # fmt: skip
    per_k = max(s[2 * k] - s[k] for s in seen.values())  # K steps + one evaluation
    startup = max(s[k] for s in seen.values()) - per_k
    left = args.finetune_seconds - elapsed
    # evaluation runs 4 times in the real run, not every K steps: per_k over-counts, so this
    # is conservative; keep 10 % spare for the final save.
    steps = int(0.9 * (left - startup) / per_k * k)
    say(f"fine-tuning calibration: {per_k:.1f} s per {k} steps + eval, start-up "
        f"{startup:.0f} s, {left:.0f} s left -> {steps} steps")  # fmt: skip
    if steps < 2 * k:
        sys.exit(f"--finetune-seconds {args.finetune_seconds} leaves too little time: "
                 f"{steps} steps. Give more seconds or --finetune-steps.")  # fmt: skip
    return steps


def finetune(args: argparse.Namespace, work: Path, encoders: Dict[str, Path], out: Path) -> None:
    began = time.perf_counter()
    steps = finetune_steps(args, work, encoders)
    calibration_s = time.perf_counter() - began
    eval_frequency = max(steps // args.finetune_evals, 1)
    logs_dir = work / "logs"
    procs, logs = {}, {}
    t0 = time.perf_counter()
    trained: Dict[str, Path] = {}
    for arm in arms(args, encoders):
        target = trained[arm.name] = arm.run_dir(work, steps)
        if finished(arm, target, steps):
            say(f"reusing {target} (same encoder, seed, steps and learning rates)")
            continue
        shutil.rmtree(target, ignore_errors=True)
        logs[arm.name] = logs_dir / f"train-{target.name}.log"
        procs[arm.name] = start(train_cmd(args, work, arm, target, steps, eval_frequency),
                                log=logs[arm.name], threads=args.threads)  # fmt: skip
    cnn: Optional[subprocess.Popen] = None
    cnn_dir = work / "training" / "cnn_ner"
    if args.cnn and procs:  # beside the runs trained now (none if all are reused)
        shutil.rmtree(cnn_dir, ignore_errors=True)
        data = work / "data"
        cnn = start([PY, "-m", "spacy", "train", str(ROOT / "benchmarks/configs/cnn-ner.cfg"),
                     "--output", str(cnn_dir), "--paths.train", str(data / "train/ner.spacy"),
                     "--paths.dev", str(data / "dev/ner.spacy"), "--training.max_steps",
                     "100000", "--training.eval_frequency", str(args.cnn_eval_frequency),
                     "--gpu-id", str(args.gpu_id)],
                    log=logs_dir / "train-cnn_ner.log", threads=args.threads)  # fmt: skip
    seen = run_together(procs, logs)
    seconds = time.perf_counter() - t0
    if cnn is not None:
        cnn.send_signal(signal.SIGINT)  # same wall-clock as the transformer runs
        cnn.wait()
    results: Dict[str, Dict] = {}
    evals = [(name, target, work / "data" / "dev") for name, target in trained.items()]
    if cnn is not None:
        evals.append(("cnn_ner", cnn_dir, work / "data" / "dev" / "ner.spacy"))
    eval_procs = {}
    for name, run_dir, dev in evals:
        for which in ("model-last", "model-best"):
            if not (run_dir / which).exists():
                continue
            metrics = work / "metrics" / f"{name}-{which}.json"
            metrics.parent.mkdir(exist_ok=True)
            eval_procs[(name, which)] = (
                start([PY, "-m", "spacy", "evaluate", str(run_dir / which), str(dev),
                       "--output", str(metrics), "--gpu-id", str(args.gpu_id)],
                      log=logs_dir / f"evaluate-{name}-{which}.log", threads=args.threads),
                metrics,
            )  # fmt: skip
    for (name, which), (proc, metrics) in eval_procs.items():
        if proc.wait() != 0:
            sys.exit(f"evaluation failed: see {logs_dir / f'evaluate-{name}-{which}.log'}")
        scores = json.loads(metrics.read_text())
        results.setdefault(name, {})[which] = {
            k: scores.get(k) for k in ("ents_p", "ents_r", "ents_f", "cats_macro_f", "speed")
        }
    for name in results:
        if name != "cnn_ner":
            results[name]["eval_rows_seconds"] = seen.get(name, {})
    payload = {
        "steps": steps,
        "eval_frequency": eval_frequency,
        "seconds_training": round(seconds, 1),
        "seconds_calibration": round(calibration_s, 1),
        "budget_seconds": args.finetune_seconds,
        "gpu_id": args.gpu_id,
        "seeds": args.seeds,
        "peak_lr": args.finetune_lr,
        "encoder_lr_scale": args.finetune_encoder_scale,
        "random_peak_lr": arm_settings(args, "random")[0],
        "random_encoder_lr_scale": arm_settings(args, "random")[1],
        "reused": sorted(name for name in trained if name not in procs),
        "runs": results,
    }
    (out / "finetune-scores.json").write_text(json.dumps(payload, indent=2))
    say(f"fine-tuned {len(procs)} runs x {steps} steps in {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="e.g. ../shared/data")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="results (small files)")
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument("--threads", type=int, default=2, help="torch threads per process")
    parser.add_argument("--pretrain-on-dev", action="store_true")
    # encoder: as benchmarks/accuracy.py
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=12000)
    # pretraining
    parser.add_argument(
        "--pretrained",
        type=Path,
        default=None,
        help="skip pretraining: fine-tune from this `pretrain` output (e.g. a continued run)",
    )
    parser.add_argument("--pretrain-seconds", type=float, default=180)
    parser.add_argument(
        "--pretrain-steps",
        type=int,
        default=0,
        help="pretrain exactly this many steps, resumable (0: fit --pretrain-seconds)",
    )
    parser.add_argument("--pretrain-batch-size", type=int, default=128)
    parser.add_argument("--pretrain-lr", type=float, default=1e-3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--schedule", default="linear", choices=["linear", "cosine"])
    parser.add_argument("--no-pack", dest="pack", action="store_false", help="one line each")
    parser.add_argument("--chunk-lines", type=int, default=50_000)
    parser.add_argument("--calibration-steps", type=int, default=30)
    parser.add_argument("--curve-points", type=int, default=10)
    parser.add_argument("--dev-max-lines", type=int, default=10**6, help="held-out lines used")
    parser.add_argument("--log-every", type=int, default=50)
    # fine-tuning
    parser.add_argument("--finetune-seconds", type=float, default=240)
    parser.add_argument("--finetune-steps", type=int, default=0, help="0: fit the budget")
    parser.add_argument("--calibration-finetune-steps", type=int, default=20)
    parser.add_argument("--finetune-evals", type=int, default=4)
    parser.add_argument("--batch-words", type=int, default=500, help="per task per step")
    parser.add_argument(
        "--finetune-lr", type=float, default=None, help="peak lr (default: configs/mini.cfg's)"
    )
    parser.add_argument(
        "--finetune-encoder-scale",
        type=float,
        default=None,
        help="the encoder's lr as a multiple of the peak lr (default: the config's 1.0)",
    )
    parser.add_argument(
        "--random-lr", type=float, default=None, help="the random arm's own peak lr"
    )
    parser.add_argument(
        "--random-encoder-scale",
        type=float,
        default=None,
        help="the random arm's own encoder scale (default: --finetune-encoder-scale)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--no-cnn", dest="cnn", action="store_false")
    parser.add_argument("--cnn-eval-frequency", type=int, default=200)
    parser.add_argument("--skip-finetune", action="store_true")
    args = parser.parse_args()

    work, out = args.work_dir.resolve(), args.out.resolve()
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    files, dev, mini = prepare(args, work, logs)
    say(f"prepared {', '.join(map(str, files))}; dev {dev}; encoder {mini}")
    if args.pretrained is not None:
        pretrained = args.pretrained.resolve()
        if not (pretrained / "pretrain-metrics.json").exists():
            sys.exit(f"--pretrained {pretrained}: no pretrain-metrics.json there; give the "
                     "output directory of `python -m spacy_beto pretrain ... --dev`")  # fmt: skip
    else:
        pretrained = pretrain_budgeted(args, files, dev, mini, work, out)
    export_pretrained(pretrained, out)
    if not args.skip_finetune:
        finetune(args, work, {"random": mini, "pretrained": pretrained}, out)
    (out / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}))
    shutil.copytree(logs, out / "logs", dirs_exist_ok=True)


if __name__ == "__main__":
    main()
