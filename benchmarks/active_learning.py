"""Uncertainty sampling vs random selection: a pool-based active-learning simulation on
CoNLL-2002 (issue 14's target: uncertainty-selected data gives higher dev entity F1 than the
same number of documents selected at random).

Reproduces benchmarks/active_learning.md (the data is never copied into the repo):

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/active_learning.py \
        --data-dir ../shared/data --work-dir /tmp/al14-work --seeds 0 1 --steps 600

Protocol, per seed:

1. Import esp.train / esp.testa with `python -m spacy_beto import conll2002 --skip-invalid`
   (`--n-sents` sentences per document; 1 by default: the annotation unit is a sentence).
   Build one mini encoder from the training text (`build-mini`; shared by every run, so each
   training starts from the same initial encoder).
2. Label a seeded random `--start` fraction of the training documents (round 0); the rest is
   the unlabelled pool.
3. Train the mini pipeline, NER only (configs/mini.cfg without the text classifier), for
   `--steps` steps, from the same initial encoder every time; evaluate entity F1 on esp.testa.
4. Rounds 1..`--rounds`: each strategy adds `--step-fraction` of the training documents to ITS
   OWN labelled set of the previous round, chosen from its own pool: `uncertainty` = the
   documents the strategy's previous-round model is least confident of, exactly as
   `python -m spacy_beto select --strategy entities` ranks them
   (`spacy_beto.selection.select_least_confident`: the lowest entity score or 1 - the score of
   the closest rejected candidate span); `random` = a seeded random sample. Retrain, evaluate.

Every step writes its output in `--work-dir` and is skipped when that output exists
(resumable). Results: `--output` (Markdown) and the same path with `.json`.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
STRATEGIES = ("uncertainty", "random")


def run(cmd: List[str], log: Path) -> float:
    """Run `cmd` (logging to `log`); exit with the log's path if it fails. Seconds taken."""
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if code:
        sys.exit(f"failed ({code}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - start


def uptime() -> str:
    try:
        return subprocess.check_output(["uptime"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "uptime unavailable"


def prepare(args: argparse.Namespace) -> Dict[str, Path]:
    """Import the data and build the encoder (skipped when they exist)."""
    work = args.work_dir.resolve()
    data, logs = work / "data", work / "logs"
    data.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    conll = args.data_dir / "conll2002"
    sp = [PY, "-m", "spacy_beto"]
    paths = {"train": data / "train.spacy", "dev": data / "dev.spacy", "mini": work / "mini"}
    for split, name in (("train", "esp.train"), ("dev", "esp.testa")):
        if not paths[split].exists():
            if not (conll / name).is_file():
                sys.exit(f"{conll / name} not found: pass --data-dir with conll2002/")
            run(sp + ["import", "conll2002", str(conll / name), str(paths[split]),
                      "--n-sents", str(args.n_sents), "--skip-invalid"],
                logs / f"import-{split}.log")  # fmt: skip
    if not (paths["mini"] / "config.json").exists():
        # The encoder's vocabulary comes from the whole training text (no labels are used).
        run(sp + ["build-mini", str(paths["train"]), "--output", str(paths["mini"]),
                  "--vocab-size", str(args.vocab_size), "--layers", str(args.layers),
                  "--hidden", str(args.hidden), "--heads", str(args.heads)],
            logs / "build-mini.log")  # fmt: skip
    return paths


def ner_config(work: Path) -> Path:
    """configs/mini.cfg with the text classifier removed (NER only)."""
    from thinc.api import Config

    path = work / "ner-only.cfg"
    if path.exists():
        return path
    cfg = Config().from_disk(ROOT / "configs" / "mini.cfg", interpolate=False)
    cfg["nlp"]["pipeline"] = ["transformer", "ner", "doc_cleaner"]
    del cfg["components"]["textcat"]
    cfg["corpora"]["train"]["paths"] = {"ner": "${paths.train_ner}"}
    cfg["corpora"]["train"]["proportions"] = {"ner": 1.0}
    weights = cfg["training"]["score_weights"]
    for key in [k for k in weights if k.startswith("cats_")]:
        del weights[key]
    weights["ents_f"] = 1.0
    cfg.to_disk(path, interpolate=False)
    return path


def write_subset(source: Path, indices: List[int], out: Path) -> Dict[str, int]:
    """The documents of `source` at `indices` as a .spacy file; their counts."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("es")
    docs = list(DocBin().from_disk(source).get_docs(nlp.vocab))
    chosen = [docs[i] for i in sorted(indices)]
    out.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=chosen, store_user_data=True).to_disk(out)
    return {
        "docs": len(chosen),
        "words": sum(len(d) for d in chosen),
        "entities": sum(len(d.ents) for d in chosen),
    }


def train(args: argparse.Namespace, cfg: Path, paths: Dict[str, Path], run_dir: Path, seed: int,
          labelled: List[int]) -> Dict[str, Any]:  # fmt: skip
    """Train on the labelled documents and evaluate on dev; cached in run_dir/result.json."""
    result_path = run_dir / "result.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "labelled.json").write_text(json.dumps(sorted(labelled)))
    counts = write_subset(paths["train"], labelled, run_dir / "train.spacy")
    model = run_dir / "model-last"
    seconds = None
    if not (model / "meta.json").exists():
        seconds = run([PY, "-m", "spacy", "train", str(cfg), "--output", str(run_dir),
                       "--paths.train_ner", str(run_dir / "train.spacy"),
                       "--paths.dev", str(paths["dev"]), "--paths.transformer", str(paths["mini"]),
                       "--training.max_steps", str(args.steps),
                       "--training.eval_frequency", str(args.steps),
                       "--training.batcher.size", str(args.batch_words),
                       "--system.seed", str(seed)],
                      run_dir / "train.log")  # fmt: skip
    scores = evaluate(model, paths["dev"])
    result = {"labelled": counts, "train_seconds": seconds, **scores}
    result_path.write_text(json.dumps(result, indent=2))
    return result


def evaluate(model: Path, dev: Path) -> Dict[str, Optional[float]]:
    import spacy
    from spacy.util import registry

    nlp = spacy.load(model)
    examples = list(registry.readers.get("spacy-beto.Corpus.v1")(dev, gold_preproc=False)(nlp))
    scores = nlp.evaluate(examples)
    return {k: scores.get(k) for k in ("ents_f", "ents_p", "ents_r")}


def within_budget(order: List[int], words: List[int], budget: int) -> List[int]:
    """The first documents of `order` until their words reach `budget` (the one crossing it
    included)."""
    taken, total = [], 0
    for i in order:
        if total >= budget:
            break
        taken.append(i)
        total += words[i]
    return taken


def select_uncertain(model: Path, train: Path, pool: List[int], n: int, out: Path) -> List[int]:
    """The `n` pool documents the model is least sure of, least sure first, ranked by
    `select`'s code (strategy "entities"); cached in `out`."""
    if out.exists():
        return json.loads(out.read_text())
    import spacy
    from spacy.tokens import DocBin

    from spacy_beto.annotate import load_pipeline
    from spacy_beto.corpus.lines import TextLine
    from spacy_beto.selection import select_least_confident

    nlp = load_pipeline(model, entity_scores=True)
    docs = list(DocBin().from_disk(train).get_docs(spacy.blank("es").vocab))
    # line = the document's index in the training file, so the selection maps back to it.
    lines = (TextLine(path=train, line=i, text=docs[i].text, fields={}, end=0) for i in pool)
    start = time.perf_counter()
    records = select_least_confident(nlp, lines, n=n, strategy="entities", batch_size=128)
    chosen = [int(r["meta"]["line"]) for r in records]
    out.write_text(json.dumps(chosen))
    scores = [r["meta"]["score"] for r in records]
    seconds = time.perf_counter() - start
    print(
        f"  scored {len(pool)} pool docs in {seconds:.0f} s; selected {len(chosen)} with "
        f"confidence {min(scores):.3f}-{max(scores):.3f}",
        flush=True,
    )
    return chosen


def simulate(args: argparse.Namespace, paths: Dict[str, Path], cfg: Path, seed: int) -> Dict:
    import spacy
    from spacy.tokens import DocBin

    words = [len(d) for d in DocBin().from_disk(paths["train"]).get_docs(spacy.blank("es").vocab)]
    n_docs = len(words)
    n_start = round(args.start * n_docs)
    n_add = round(args.step_fraction * n_docs)
    add_words = round(args.step_fraction * sum(words))
    rng = random.Random(seed)
    order = list(range(n_docs))
    rng.shuffle(order)
    initial = sorted(order[:n_start])
    seed_dir = args.work_dir.resolve() / f"seed{seed}"
    curve: Dict[str, List[Dict[str, Any]]] = {}
    print(f"seed {seed}: {n_docs} training docs, start {n_start}, add {n_add} per round")
    round0 = train(args, cfg, paths, seed_dir / "round0", seed, initial)
    for strategy in STRATEGIES:
        labelled = list(initial)
        curve[strategy] = [dict(round0, round=0)]
        prev_model = seed_dir / "round0" / "model-last"
        for r in range(1, args.rounds + 1):
            run_dir = seed_dir / f"{strategy}-round{r}"
            taken = set(labelled)
            pool = [i for i in range(n_docs) if i not in taken]
            n_rank = n_add if args.budget == "docs" else len(pool)  # words: rank the whole pool
            if strategy == "uncertainty":
                selected = seed_dir / f"{strategy}-round{r}.selected.json"
                added = select_uncertain(prev_model, paths["train"], pool, n_rank, selected)
            else:
                added = random.Random(f"{seed}-random-{r}").sample(pool, n_rank)
            if args.budget == "words":
                added = within_budget(added, words, add_words)
            labelled = labelled + added
            res = train(args, cfg, paths, run_dir, seed, labelled)
            curve[strategy].append(dict(res, round=r))
            prev_model = run_dir / "model-last"
            print(f"  {strategy} round {r}: {res['labelled']['docs']} docs, "
                  f"ents_f {res['ents_f'] * 100:.2f}", flush=True)  # fmt: skip
    return {"n_docs": n_docs, "n_start": n_start, "n_add": n_add, "add_words": add_words,
            "curve": curve}  # fmt: skip


def _pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{x * 100:.2f}"


def added_text(res: Dict[str, Any], args: argparse.Namespace) -> str:
    first = next(iter(res["seeds"].values()))
    if args.budget == "words":
        return f"of the training words: {first['add_words']} words, whole documents"
    return f"{first['n_add']} docs"


def write_md(res: Dict[str, Any], args: argparse.Namespace) -> None:
    seeds = list(res["seeds"])
    rounds = range(args.rounds + 1)
    lines = [
        "# Uncertainty sampling vs random selection (CoNLL-2002 NER)",
        "",
        f"Command: `{res['command']}`",
        "",
        f"Mini encoder {args.layers} layers, hidden {args.hidden}, {args.heads} heads, vocab "
        f"{args.vocab_size} (built once from the training text; every run starts from it). "
        f"NER only (configs/mini.cfg without the text classifier), {args.steps} steps of "
        f"{args.batch_words} words per training, whatever the labelled set's size. Training "
        f"docs: esp.train imported with {args.n_sents} sentence(s) per document "
        f"({res['seeds'][seeds[0]]['n_docs']} docs); start with a seeded random "
        f"{args.start:.0%}, add {args.step_fraction:.0%} per round "
        f"({added_text(res, args)}) by each strategy, {args.rounds} rounds; "
        "each strategy continues from its own labelled set. Uncertainty = `select --strategy "
        "entities` (spacy_beto.selection: a document's confidence is its lowest entity score "
        "or 1 - the score of the closest rejected candidate span; the least confident are "
        "taken) with the strategy's previous-round model. Dev: esp.testa, entity F1 (exact "
        f"span match). Raw JSON: `benchmarks/{args.output.with_suffix('.json').name}`.",
        "",
        f"Machine load: before `{res['uptime_before']}`; after `{res['uptime_after']}` "
        f"(2 shared cores); wall-clock {res['wall_s'] / 60:.1f} min.",
        "",
        "## Dev entity F1 by round (mean over seeds; each seed in brackets)",
        "",
        "| round | labelled % | uncertainty | random | uncertainty − random |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rounds:
        frac = args.start + r * args.step_fraction
        vals: Dict[str, List[float]] = {}
        for strategy in STRATEGIES:
            vals[strategy] = [res["seeds"][s]["curve"][strategy][r]["ents_f"] for s in seeds]
        diffs = [u - v for u, v in zip(vals["uncertainty"], vals["random"])]

        def cell(xs: List[float]) -> str:
            each = " / ".join(f"{x * 100:.2f}" for x in xs)
            return f"{sum(xs) / len(xs) * 100:.2f} ({each})"

        diff = "–" if r == 0 else cell(diffs)
        lines.append(
            f"| {r} | {frac:.0%} | {cell(vals['uncertainty'])} | {cell(vals['random'])} | {diff} |"
        )
    last = args.rounds
    final = [
        res["seeds"][s]["curve"]["uncertainty"][last]["ents_f"]
        - res["seeds"][s]["curve"]["random"][last]["ents_f"]
        for s in seeds
    ]
    wins = sum(d > 0 for d in final)
    lines += [
        "",
        f"After round {last}: uncertainty − random = {sum(final) / len(final) * 100:+.2f} F1 "
        f"points on average; uncertainty higher in {wins} of {len(final)} seed(s).",
    ]
    lines += [
        "",
        "## What each strategy labelled (per seed, cumulative)",
        "",
        "| seed | round | strategy | docs | words | entities | epochs | P | R | F | train s |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in seeds:
        for r in rounds:
            for strategy in STRATEGIES if r else ("(both)",):
                row = res["seeds"][s]["curve"]["uncertainty" if r == 0 else strategy][r]
                lab, sec = row["labelled"], row.get("train_seconds")
                lines.append(
                    f"| {s} | {r} | {strategy} | {lab['docs']} | {lab['words']} | "
                    f"{lab['entities']} | {args.steps * args.batch_words / lab['words']:.1f} | "
                    f"{_pct(row['ents_p'])} | {_pct(row['ents_r'])} | "
                    f"{_pct(row['ents_f'])} | {'–' if sec is None else f'{sec:.0f}'} |"
                )
    args.output.write_text("\n".join(lines) + "\n", encoding="utf8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work-dir", type=Path, required=True, help="outside the repository")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--start", type=float, default=0.10, help="fraction labelled at first")
    parser.add_argument("--step-fraction", type=float, default=0.10, help="added per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--budget",
        choices=("docs", "words"),
        default="docs",
        help="count what each round adds in documents or in words (annotation cost)",
    )
    parser.add_argument("--steps", type=int, default=600, help="training steps per run")
    parser.add_argument("--batch-words", type=int, default=500)
    parser.add_argument("--n-sents", type=int, default=1, help="sentences per document")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "active_learning.md")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite --output from its JSON (same arguments) without running anything",
    )
    args = parser.parse_args()
    if args.report_only:
        res = json.loads(args.output.with_suffix(".json").read_text())
        res["seeds"] = {int(k): v for k, v in res["seeds"].items()}
        write_md(res, args)
        print(args.output.read_text())
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    before, start = uptime(), time.perf_counter()
    paths = prepare(args)
    cfg = ner_config(args.work_dir.resolve())
    results = {s: simulate(args, paths, cfg, s) for s in args.seeds}
    res = {
        "command": "OMP_NUM_THREADS=1 nice -n 10 python benchmarks/active_learning.py "
        + " ".join(sys.argv[1:]),
        "uptime_before": before,
        "uptime_after": uptime(),
        "wall_s": time.perf_counter() - start,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "seeds": results,
    }
    args.output.with_suffix(".json").write_text(json.dumps(res, indent=2), encoding="utf8")
    write_md(res, args)
    print(args.output.read_text())


if __name__ == "__main__":
    main()
