"""Markdown tables from the outputs of benchmarks/pretrain_effect.py (or gpu/pretrain.sh).

    python benchmarks/pretrain_table.py OUTDIR

Reads OUTDIR/pretrain-metrics.json (held-out MLM perplexity curve, unigram baseline) and, if
present, OUTDIR/finetune-scores.json (dev scores of random vs pretrained fine-tuning per seed,
spaCy's CNN NER); prints the tables for benchmarks/pretraining.md.
"""

import argparse
import json
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional


def _pct(values: List[float]) -> str:
    if not values:
        return "–"
    mean = statistics.mean(values) * 100
    if len(values) == 1:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {statistics.stdev(values) * 100:.2f}"


def perplexity_table(metrics: Dict[str, Any]) -> List[str]:
    base = metrics.get("unigram_baseline") or {}
    unigram = base.get("dev_perplexity")
    cfg = metrics.get("config", {})
    lines = [
        f"Pretraining: {metrics.get('steps')} steps (planned {metrics.get('planned_steps', '–')})"
        f", batch {cfg.get('batch_size')} x {cfg.get('max_length')} pieces "
        f"(packed: {cfg.get('pack')}), peak lr {cfg.get('lr')} ({cfg.get('schedule')}), "
        f"device {metrics.get('device', '–')}, bf16 {cfg.get('bf16')}, "
        f"{metrics.get('seconds_in_all', metrics.get('seconds_this_run'))} s in all, "
        f"{metrics.get('words_seen')} words seen.",
        "",
        "| step | train MLM loss | dev MLM loss | dev perplexity | ÷ unigram perplexity |",
        "|---:|---:|---:|---:|---:|",
    ]
    for point in metrics.get("curve", []):
        ratio = f"{point['dev_perplexity'] / unigram:.3f}" if unigram else "–"
        train = point.get("train_loss")
        lines.append(
            f"| {point['step']} | {'–' if train is None else f'{train:.3f}'} | "
            f"{point['dev_loss']:.3f} | {point['dev_perplexity']:,.1f} | {ratio} |"
        )
    if unigram:
        lines += [
            "",
            f"Unigram baseline (add-one piece frequencies of {base.get('train_pieces'):,} training"
            f" pieces) on the same {base.get('dev_pieces'):,} masked dev pieces: perplexity "
            f"**{unigram:,.1f}**; target ≤ 0.25x = {unigram / 4:,.1f}.",
        ]
    return lines


def scale_note(scale: Optional[float]) -> str:
    """ ", encoder at 0.25x" for a run with --finetune-encoder-scale 0.25; "" without one."""
    return "" if scale is None or float(scale) == 1.0 else f", encoder at {scale}x"


def random_note(scores: Dict[str, Any]) -> str:
    """ " (random arm: peak lr 0.003)" where the random arm ran at its own setting."""
    lr, scale = scores.get("random_peak_lr"), scores.get("random_encoder_lr_scale")
    if (lr, scale) == (scores.get("peak_lr"), scores.get("encoder_lr_scale")):
        return ""
    return f" (random arm: peak lr {lr or 'of the config'}, encoder at {scale or 1.0}x)"


def reused_note(scores: Dict[str, Any]) -> str:
    """ "; reused from an earlier invocation: random@seed0" where runs were not retrained."""
    reused = scores.get("reused") or []
    return f"; reused from an earlier invocation: {', '.join(reused)}" if reused else ""


def finetune_table(scores: Dict[str, Any]) -> List[str]:
    runs: Dict[str, Dict[str, Any]] = scores["runs"]

    def values(arm: str, which: str, metric: str) -> List[float]:
        return [
            r[which][metric]
            for name, r in runs.items()
            if name.split("@")[0] == arm and which in r and r[which].get(metric) is not None
        ]

    lines = [
        f"Fine-tuning `configs/mini.cfg` (NER + emotions), {scores['steps']} steps per run, "
        f"peak lr {scores.get('peak_lr') or 'of the config'}"
        f"{scale_note(scores.get('encoder_lr_scale'))}{random_note(scores)}, "
        f"seeds {scores['seeds']}, all runs at once on "
        f"{'GPU ' + str(scores['gpu_id']) if scores['gpu_id'] >= 0 else 'the CPU'} "
        f"({scores['seconds_training']} s of training, {scores['seconds_calibration']} s of "
        f"calibration{reused_note(scores)}). Dev splits: CoNLL-2002 esp.testa, EmoEvent dev. "
        "Mean ± std over seeds.",
        "",
        "| encoder | model | entity F1 | emotion macro-F1 |",
        "|---|---|---:|---:|",
    ]
    for which, label in (("model-last", "last (equal steps)"), ("model-best", "best")):
        for arm in ("random", "pretrained"):
            lines.append(
                f"| {arm} mini | {label} | {_pct(values(arm, which, 'ents_f'))} | "
                f"{_pct(values(arm, which, 'cats_macro_f'))} |"
            )
    deltas = []
    for metric, name in (("ents_f", "entity F1"), ("cats_macro_f", "emotion macro-F1")):
        pre = values("pretrained", "model-last", metric)
        rnd = values("random", "model-last", metric)
        if pre and rnd:
            diff = (statistics.mean(pre) - statistics.mean(rnd)) * 100
            deltas.append(f"{name} **{diff:+.2f}**")
    if deltas:
        lines += ["", f"Pretrained − random (model-last, target +3 each): {', '.join(deltas)}."]
    cnn: Optional[Dict[str, Any]] = runs.get("cnn_ner")
    if cnn and "model-best" in cnn:
        lines += [
            "",
            f"spaCy CNN NER (`benchmarks/configs/cnn-ner.cfg`), trained side by side for the same "
            f"{scores['seconds_training']} s: entity F1 **{cnn['model-best']['ents_f'] * 100:.2f}**"
            f" (model-best) vs pretrained mini "
            f"{_pct(values('pretrained', 'model-best', 'ents_f'))} (model-best).",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args()
    lines: List[str] = []
    metrics_path = args.outdir / "pretrain-metrics.json"
    if metrics_path.exists():
        lines += ["### Held-out MLM perplexity", ""]
        lines += perplexity_table(json.loads(metrics_path.read_text(encoding="utf8")))
    scores_path = args.outdir / "finetune-scores.json"
    if scores_path.exists():
        lines += ["", "### Random vs pretrained mini, fine-tuned", ""]
        lines += finetune_table(json.loads(scores_path.read_text(encoding="utf8")))
    if not lines:
        raise SystemExit(f"{args.outdir}: no pretrain-metrics.json or finetune-scores.json")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
