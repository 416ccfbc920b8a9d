"""Entity confidence of trained pipelines: raw score vs Platt vs the `entity_features` map.

    python benchmarks/entity_confidence.py DEV.spacy TRAIN.spacy MODEL [MODEL ...] \\
        --output benchmarks/entity_confidence.md

For each MODEL (a trained pipeline directory with `beto_token_ner` or `beto_ner`; entity scores
are turned on), the documents of DEV are split by position: calibration is fitted on the even
half (what `python -m spacy_beto calibrate` does), every figure is measured on the odd half.
Three scores per predicted entity (correct: a gold entity has the same characters and label):

  raw       the component's score (beto_token_ner: geometric mean of the tokens' chosen-tag
            probabilities; beto_ner: its greedy or beam score)
  platt     `calibrate MODEL DEV` (monotonic: same AUROC as raw)
  features  `calibrate MODEL DEV --train TRAIN`: logistic map of the raw score, the label, and
            whether the entity's text was annotated in TRAIN with this label / another one

The pipeline calibrated with features is saved and loaded again before it is measured (the
lexicon travels in the component's cfg). AUROC (correct vs wrong), ECE (10 bins), and
precision / coverage at score >= 0.9 against the overall precision. Writes OUTPUT (.md) and
the same figures as JSON beside it.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from calibration import split_examples  # the same even/odd halves as calibration.py

TARGET_AUROC = 0.85


def entity_confidence(nlp: Any, examples: List[Any]) -> Dict[str, Any]:
    from spacy_beto.evaluation.report import evaluate_pipeline

    scores = evaluate_pipeline(nlp, [eg.copy() for eg in examples])
    conf = scores["ents_confidence"]
    at_09 = conf["coverage"]["0.9"]
    return {
        "n": conf["n"],
        "precision": conf["accuracy"],
        "auroc": conf["auroc"],
        "auroc_uncalibrated": conf["auroc_uncalibrated"],
        "ece": conf["ece"],
        "ece_uncalibrated": conf["ece_uncalibrated"],
        "precision_at_0.9": at_09["precision"],
        "coverage_at_0.9": at_09["coverage"],
        "ents_f": scores["ents_f"],
    }


def measure(model: Path, dev: Path, train: Path) -> Dict[str, Any]:
    import spacy

    from spacy_beto.annotate import load_pipeline
    from spacy_beto.evaluation.confidence import calibrate_pipeline, training_lexicon

    nlp = load_pipeline(model, entity_scores=True)
    halves = split_examples(nlp, dev)
    out: Dict[str, Any] = {"model": str(model), "cal_docs": len(halves["cal"])}
    out["eval_docs"] = len(halves["eval"])
    calibrate_pipeline(nlp, [eg.copy() for eg in halves["cal"]])
    out["platt"] = entity_confidence(nlp, halves["eval"])
    start = time.perf_counter()
    lexicon = training_lexicon(nlp, train)
    fitted = calibrate_pipeline(nlp, [eg.copy() for eg in halves["cal"]], lexicon=lexicon)
    out["fit_seconds"] = time.perf_counter() - start
    out["lexicon_texts"] = len(lexicon)
    out["features_map"] = {
        name: {k: v for k, v in cal.items() if k != "lexicon"} for name, cal in fitted.items()
    }
    with tempfile.TemporaryDirectory() as tmp:
        nlp.to_disk(tmp)
        out["features"] = entity_confidence(spacy.load(tmp), halves["eval"])
    return out


def short(model: str) -> str:
    """`W/beto_token_ner@seed0/model-best` -> `beto_token_ner@seed0/model-best`."""
    return "/".join(Path(model).parts[-2:])


def write_md(results: List[Dict[str, Any]], args: argparse.Namespace, load: str) -> None:
    def pct(x: Any) -> str:
        return "-" if x is None else f"{100 * x:.2f}"

    def au(x: Any) -> str:
        return "-" if x is None else f"{x:.3f}"

    lines = [
        "# Entity confidence: raw score, Platt, and the training-lexicon features",
        "",
        "Command: `python benchmarks/entity_confidence.py "
        + " ".join([str(args.dev), str(args.train), *map(str, args.models)])
        + f" --output {args.output}`",
        "",
        "Calibration fitted on the even documents of DEV, every figure on the odd documents "
        "(held out from the fit). `features`: `calibrate --train TRAIN` (score, label, text seen "
        "in TRAIN with this label / another). "
        f"Machine load before the run: `{load}`. Raw JSON beside this file.",
        "",
        "| model | entities | precision % | AUROC raw | AUROC features | ECE raw | ECE Platt "
        "| ECE features | P@>=0.9 Platt (coverage) | P@>=0.9 features (coverage) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        p, f = r["platt"], r["features"]
        lines.append(
            f"| {short(r['model'])} | {f['n']} | {pct(f['precision'])} "
            f"| {au(f['auroc_uncalibrated'])} | **{au(f['auroc'])}** "
            f"| {pct(f['ece_uncalibrated'])} | {pct(p['ece'])} "
            f"| {pct(f['ece'])} | {pct(p['precision_at_0.9'])} ({pct(p['coverage_at_0.9'])}) "
            f"| {pct(f['precision_at_0.9'])} ({pct(f['coverage_at_0.9'])}) |"
        )
    met = [r["features"]["auroc"] >= TARGET_AUROC for r in results]
    lines += [
        "",
        f"AUROC >= {TARGET_AUROC} with features: {sum(met)} of {len(results)} models. "
        "Platt's AUROC equals the raw score's (a monotonic map).",
        "",
        "Fitted maps (without the lexicon):",
        "",
    ]
    for r in results:
        lines.append(
            f"- {short(r['model'])} ({r['lexicon_texts']} lexicon texts): "
            f"`{json.dumps(r['features_map'])}`"
        )
    Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dev", type=Path)
    parser.add_argument("train", type=Path)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/entity_confidence.md"))
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results = []
    for model in args.models:
        print(f"measuring {model}", flush=True)
        results.append(measure(model, args.dev, args.train))
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=2), encoding="utf8")
    write_md(results, args, f"load average {load}")
    print(args.output.read_text(encoding="utf8"))


if __name__ == "__main__":
    main()
