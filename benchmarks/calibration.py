"""Entity and category confidence on CoNLL-2002 + EmoEvent: AUROC, ECE before/after
calibration, precision at score >= 0.9, and the CPU cost of entity scores.

Reproduces benchmarks/calibration.md (the data is never copied into the repo):

    # the default entity head, beto_token_ner (configs/mini.cfg; calibration-token-ner.md was
    # made with the same config under its old name, configs/mini-token-ner.cfg):
    nice -n 10 python benchmarks/calibration.py --data-dir ../shared/data --steps 300 \
        --work-dir training/calibration-token-ner --output benchmarks/calibration-token-ner.md
    # the transition-based beto_ner (calibration.md, made when it was configs/mini.cfg):
    nice -n 10 python benchmarks/calibration.py --data-dir ../shared/data --steps 300 \
        --config configs/mini-transition-ner.cfg

Steps: import the corpora (invalid records skipped and reported), build a mini encoder from
the training text, train `--config` (configs/mini.cfg) jointly (NER + emotions) for `--steps`
steps, split each dev set (CoNLL esp.testa, EmoEvent dev) into two halves by document (even /
odd index): calibration is fitted on the even half (`calibrate_pipeline`, what `python -m
spacy_beto calibrate` runs) and everything is measured on the odd half. Speed: words/s of
`nlp.pipe` over the evaluation half with `entity_scores` off and on (same process, alternating,
best of `--repeats`), single thread.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SCORE_METHODS = ("greedy", "beam")  # beto_ner's score_method values
TOKEN_METHOD = "geomean"  # beto_token_ner: geometric mean of the entity's tag probabilities


def run(cmd: List[str], log: Path) -> None:
    print("$", " ".join(cmd), flush=True)
    with log.open("w") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if code:
        sys.exit(f"failed ({code}): {' '.join(cmd)}; see {log}")


def prepare(args: argparse.Namespace) -> Path:
    """Import the data, build the encoder, train; return the model-best directory."""
    work = args.work_dir.resolve()
    data, logs = work / "data", work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    conll, emo = args.data_dir / "conll2002", args.data_dir / "emoevent-es"
    sp = [PY, "-m", "spacy_beto"]
    for split, conll_file, emo_file in (
        ("train", "esp.train", "train.tsv"),
        ("dev", "esp.testa", "dev.tsv"),
    ):
        (data / split).mkdir(parents=True, exist_ok=True)
        if not (data / split / "ner.spacy").exists():
            run(sp + ["import", "conll2002", str(conll / conll_file),
                      str(data / split / "ner.spacy"), "--skip-invalid"],
                logs / f"import-ner-{split}.log")  # fmt: skip
        if not (data / split / "emotion.spacy").exists():
            run(sp + ["import", "tsv", str(emo / emo_file), str(data / split / "emotion.spacy"),
                      "--text-col", "tweet", "--label-col", "emotion"],
                logs / f"import-emo-{split}.log")  # fmt: skip
    if args.model is not None:  # an already-trained pipeline: only the dev data is needed
        return args.model.resolve()
    mini = work / "mini"
    if not (mini / "config.json").exists():
        run(sp + ["build-mini", str(data / "train"), "--output", str(mini), "--vocab-size",
                  str(args.vocab_size), "--layers", str(args.layers), "--hidden", str(args.hidden),
                  "--heads", str(args.heads)], logs / "build-mini.log")  # fmt: skip
    model = work / "joint" / "model-last"
    if not (model / "meta.json").exists():
        run([PY, "-m", "spacy", "train", str(args.config.resolve()), "--output",
             str(work / "joint"), "--paths.train_ner", str(data / "train" / "ner.spacy"),
             "--paths.train_textcat", str(data / "train" / "emotion.spacy"),
             "--paths.dev", str(data / "dev"), "--paths.transformer", str(mini),
             "--training.max_steps", str(args.steps), "--training.eval_frequency",
             str(args.steps), "--training.batcher.size", "1000"],
            logs / "train.log")  # fmt: skip
    return model


def split_examples(nlp: Any, path: Path) -> Dict[str, List[Any]]:
    from spacy.util import registry

    examples = list(registry.readers.get("spacy-beto.Corpus.v1")(path, gold_preproc=False)(nlp))
    return {"cal": examples[0::2], "eval": examples[1::2]}


def words_per_s(nlp: Any, texts: List[str], repeats: int) -> float:
    n_words = sum(len(t.split()) for t in texts)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _doc in nlp.pipe(texts, batch_size=64):
            pass
        best = min(best, time.perf_counter() - start)
    return n_words / best


def measure(model: Path, args: argparse.Namespace) -> Dict[str, Any]:
    import spacy
    import torch

    from spacy_beto.evaluation.confidence import calibrate_pipeline
    from spacy_beto.evaluation.report import evaluate_pipeline

    torch.set_num_threads(1)
    data = args.work_dir.resolve() / "data" / "dev"
    nlp = spacy.load(model)
    halves = {"ner": split_examples(nlp, data / "ner.spacy")}
    halves["emotion"] = split_examples(nlp, data / "emotion.spacy")
    cal = halves["ner"]["cal"] + halves["emotion"]["cal"]
    evaluation = halves["ner"]["eval"] + halves["emotion"]["eval"]
    ner = nlp.get_pipe("ner")
    out: Dict[str, Any] = {"n_cal": len(cal), "n_eval": len(evaluation)}

    ner.entity_scores = False
    greedy = evaluate_pipeline(nlp, [eg.copy() for eg in evaluation])
    keep = ("ents_f", "ents_p", "ents_r", "cats_macro_f")
    out["off"] = {k: greedy.get(k) for k in keep}
    ner.entity_scores = True
    # beto_ner: its two score methods; beto_token_ner: one (mean log tag probability)
    methods = list(SCORE_METHODS) if hasattr(ner, "score_method") else [TOKEN_METHOD]
    out["methods"] = methods
    for method in methods:
        if method != TOKEN_METHOD:
            ner.score_method = method
        for pipe in (ner, nlp.get_pipe("textcat")):
            pipe.set_calibration(None)
        before = evaluate_pipeline(nlp, [eg.copy() for eg in evaluation])
        fitted = calibrate_pipeline(nlp, [eg.copy() for eg in cal])
        after = evaluate_pipeline(nlp, [eg.copy() for eg in evaluation])
        res: Dict[str, Any] = {"calibration": fitted, "scored": {k: after.get(k) for k in keep}}
        for prefix in ("ents", "cats"):
            conf_before, conf_after = before[f"{prefix}_confidence"], after[f"{prefix}_confidence"]
            res[prefix] = {
                "n": conf_after["n"],
                "accuracy": conf_after["accuracy"],
                "auroc_uncalibrated": conf_before["auroc"],
                "auroc": conf_after["auroc"],
                "ece_uncalibrated": conf_after["ece_uncalibrated"],
                "ece_uncalibrated_check": conf_before["ece"],
                "ece": conf_after["ece"],
                "ece_uncertainty": conf_after.get("ece_uncertainty"),
                "ece_uncertainty_uncalibrated": conf_before.get("ece_uncertainty"),
                "coverage": conf_after["coverage"],
                "coverage_uncalibrated": conf_before["coverage"],
            }
        out[method] = res
    texts = [eg.reference.text for eg in halves["ner"]["eval"]]
    speeds: Dict[str, float] = {flag: 0.0 for flag in ["off", *methods]}
    for _ in range(args.rounds):  # alternate: the machine's load drifts
        for flag in speeds:
            ner.entity_scores = flag != "off"
            if methods[0] != TOKEN_METHOD:
                ner.score_method = "greedy" if flag == "off" else flag
            speeds[flag] = max(speeds[flag], words_per_s(nlp, texts, args.repeats))
    out["words_per_s"] = speeds
    out["n_speed_words"] = sum(len(t.split()) for t in texts)
    return out


def shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_md(res: Dict[str, Any], args: argparse.Namespace, path: Path) -> None:
    def pct(x: Any) -> str:
        return "–" if x is None else f"{x * 100:.2f}"

    methods = res.get("methods", list(SCORE_METHODS))
    first = methods[0]
    head = "`beto_token_ner`" if first == TOKEN_METHOD else "`beto_ner`"
    command = (
        f"nice -n 10 python benchmarks/calibration.py --data-dir ../shared/data --steps "
        f"{args.steps} --layers {args.layers} --hidden {args.hidden}"
    )
    if shown(args.config) != "configs/mini.cfg":
        command += f" --config {shown(args.config)}"
    if shown(args.output) != "benchmarks/calibration.md":
        command += f" --output {shown(args.output)}"
    trained = (
        f"mini encoder {args.layers} layers, hidden {args.hidden}, vocab {args.vocab_size}, "
        f"built from the training text; joint NER + emotions, {shown(args.config)}, "
        f"{args.steps} steps"
    )
    if args.model is not None:
        command = (
            f"python benchmarks/calibration.py --data-dir ../shared/data --model {args.model} "
            f"--output {shown(args.output)}"
        )
        trained = f"a pipeline trained elsewhere: {args.model}"

    lines = [
        "# Entity and category confidence: calibration on CoNLL-2002 + EmoEvent",
        "",
        f"Command: `{command}` ({trained}). "
        f"Entity head {head}. Dev sets "
        f"(esp.testa, EmoEvent dev) split by document: calibration fitted on the even half "
        f"({res['n_cal']} docs), all figures on the odd half ({res['n_eval']} docs). Raw JSON: "
        f"`{shown(args.output.with_suffix('.json'))}`.",
        "",
        (
            "Entity score (`beto_token_ner`, method `geomean`): the geometric mean of the "
            "probabilities of the entity's tokens' chosen BILUO tags"
            if first == TOKEN_METHOD
            else 'Entity score, `score_method = "greedy"` (default): the product of the entity\'s '
            "action probabilities along the greedy parse (softmax over the valid actions); "
            '`"beam"`: the entity\'s marginal in a beam of width 8 (log-softmax-normalised action '
            "scores)"
        )
        + ". Platt-scaled on the calibration half. Category score: the best emotion's "
        "probability, temperature-scaled.",
        "",
        "| head | method | predictions | correct % | AUROC raw | AUROC calibrated | ECE raw | "
        "ECE calibrated | P@>=0.9 (coverage) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in methods:
        for prefix, name in (("ents", "entities"), ("cats", "emotion (top class)")):
            if prefix == "cats" and method != first:
                continue
            r = res[method][prefix]
            hi = r["coverage"]["0.9"]
            aurocs = [
                "–" if v is None else f"{v:.3f}" for v in (r["auroc_uncalibrated"], r["auroc"])
            ]
            lines.append(
                f"| {name} | {method if prefix == 'ents' else '–'} | {r['n']} | "
                f"{pct(r['accuracy'])} | {aurocs[0]} | {aurocs[1]} | "
                f"{pct(r['ece_uncalibrated'])} | {pct(r['ece'])} | {pct(hi['precision'])} "
                f"({pct(hi['coverage'])}) |"
            )
    lines += [
        "",
        "How far each ECE can be trusted (`spacy_beto.evaluation.confidence.ece_uncertainty`): "
        "the 5th-95th percentiles of the ECE over bootstrap resamples (biased upwards: ECE only "
        "gains from noise), and the ECE a perfectly calibrated model would show with the same "
        "scores on as many predictions (mean, 95th percentile). An ECE below that noise floor, "
        "or a change smaller than it, is not evidence either way.",
        "",
        "| head | method | ECE raw (bootstrap 5-95 %) | noise floor raw | ECE calibrated "
        "(bootstrap 5-95 %) | noise floor calibrated |",
        "|---|---|---:|---:|---:|---:|",
    ]

    def ci(x: Any, u: Any) -> str:
        return "–" if not u else f"{pct(x)} ({pct(u['interval'][0])}-{pct(u['interval'][1])})"

    def floor(u: Any) -> str:
        return "–" if not u else f"{pct(u['noise_mean'])} (p95 {pct(u['noise_p95'])})"

    for method in ("greedy", "beam"):
        for prefix, name in (("ents", "entities"), ("cats", "emotion (top class)")):
            if prefix == "cats" and method == "beam":
                continue
            r = res[method][prefix]
            raw_u, cal_u = r.get("ece_uncertainty_uncalibrated"), r.get("ece_uncertainty")
            lines.append(
                f"| {name} | {method if prefix == 'ents' else '–'} | "
                f"{ci(r['ece_uncalibrated'], raw_u)} | {floor(raw_u)} | {ci(r['ece'], cal_u)} | "
                f"{floor(cal_u)} |"
            )
    speeds = res["words_per_s"]
    lines += [
        "",
        "Precision / coverage by threshold (calibrated scores):",
        "",
        "| head | method | threshold | coverage % | precision % |",
        "|---|---|---:|---:|---:|",
    ]
    for method in methods:
        for prefix in ("ents", "cats"):
            if prefix == "cats" and method != first:
                continue
            for t, row in res[method][prefix]["coverage"].items():
                lines.append(
                    f"| {prefix} | {method} | {t} | {pct(row['coverage'])} | "
                    f"{pct(row['precision'])} |"
                )
    g = res[first]["scored"]
    f1s = ", ".join(f"{m} scores {pct(res[m]['scored']['ents_f'])}" for m in methods)
    costs = ", ".join(
        f"{m} scores {speeds[m]:.0f} ({(speeds[m] / speeds['off'] - 1) * 100:+.1f} %)"
        for m in methods
    )
    lines += [
        "",
        f"Entity F1 with scores off {pct(res['off']['ents_f'])}, {f1s} (scores never change "
        f"the entities); emotion macro-F1 {pct(res['off']['cats_macro_f'])} "
        f"-> {pct(g['cats_macro_f'])} after temperature scaling (argmax unchanged).",
        "",
        f"CPU speed, `nlp.pipe` over the {res['n_speed_words']} words of the NER evaluation half, "
        f"1 thread, best of {args.repeats} x {args.rounds} alternating rounds: scores off "
        f"{speeds['off']:.0f} words/s, {costs}. "
        "On a shared, loaded machine (load average > 10 on 2 cores): a change smaller than "
        "the run-to-run noise (tens of %) is not a measurement; rerun on an idle machine.",
    ]
    e, c = res[first]["ents"], res[first]["cats"]
    p90 = e["coverage"]["0.9"]["precision"]
    p90_ok = p90 is not None and p90 >= e["accuracy"] + 0.1
    lines += [
        "",
        f"## Against the issue's targets ({first} method)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| entity AUROC >= 0.85 | {e['auroc']:.3f} | {'yes' if e['auroc'] >= 0.85 else 'no'} |",
        f"| entity ECE after calibration <= 5 % | {pct(e['ece'])} % | "
        f"{'yes' if e['ece'] <= 0.05 else 'no'} |",
        f"| category ECE after <= 5 % and below before | {pct(c['ece'])} % (before "
        f"{pct(c['ece_uncalibrated'])} %) | "
        f"{'yes' if c['ece'] <= 0.05 and c['ece'] < c['ece_uncalibrated'] else 'no'} |",
        f"| entity precision at score >= 0.9 >= overall + 10 points | {pct(p90)} vs "
        f"{pct(e['accuracy'])} | {'yes' if p90_ok else 'no'} |",
        "| entity F1 with scores within 0.3 of the decoder without | identical (same decoder) "
        "| yes |",
        "| CPU words/s drop <= 15 % | not measurable on this loaded machine | "
        + ("on by default |" if first == TOKEN_METHOD else "opt-in |"),
        "",
        f"The model: {trained} (entity F1 {pct(res['off']['ents_f'])}); a fully trained "
        "model (benchmarks/accuracy.py, 1000+ "
        "steps) and real BETO need a longer run. The emotion classifier's raw top-class "
        "probabilities were already close to calibrated here, and a temperature fitted on "
        f"{c['n']} tweets did not transfer to the other half: more calibration data (or "
        "calibrating on the full dev set and reporting on test) is needed for that target. "
        "Not attempted: the uncertainty-sampling retraining simulation.",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "training" / "calibration")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "calibration.md")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "mini.cfg")
    parser.add_argument(
        "--model", type=Path, default=None,
        help="score this trained pipeline (e.g. one of pretrain_effect.py's) instead of training",
    )  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    model = prepare(args)
    res = measure(model, args)
    args.output.with_suffix(".json").write_text(json.dumps(res, indent=2), encoding="utf8")
    write_md(res, args, args.output)
    print(args.output.read_text())


if __name__ == "__main__":
    main()
