"""`test-eval`: evaluate the runs of several seeds on the test splits, mean ± std, next to the
published figures (all-beto's evaluation step)."""

import json
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

from . import app
from ._util import clear_errors


def model_dirs(runs: List[Path]) -> Dict[str, Path]:
    """{run name: model directory} of `runs`: model directories, or `seeds.json` files written
    by `train-seeds` (their runs by seed)."""
    from ..errors import BetoConfigError

    found: Dict[str, Path] = {}
    for run in runs:
        if run.suffix == ".json":
            if not run.is_file():
                raise BetoConfigError(f"{run}: no such file (written by `train-seeds`)")
            listed = json.loads(run.read_text(encoding="utf8")).get("runs") or {}
            found.update({f"seed {seed}": Path(path) for seed, path in listed.items()})
        else:
            found[str(run)] = run
    for name, path in found.items():
        if not (path / "config.cfg").is_file():
            raise BetoConfigError(f"{path} ({name}): not a saved pipeline (no config.cfg)")
    if not found:
        raise BetoConfigError("no runs to evaluate")
    return found


@app.command("test-eval")
def test_eval_cli(
    runs: List[Path] = typer.Argument(..., help="Model directories, or seeds.json of train-seeds"),
    data_path: Path = typer.Option(..., "--data", help=".spacy file or directory (test split)"),
    output_path: Path = typer.Option(..., "--output", "-o", help="Metrics JSON to write"),
    markdown_path: Optional[Path] = typer.Option(None, "--markdown", help="Markdown to write"),
    restore_report: Optional[Path] = typer.Option(
        None, help="JSON of `restore-labels --report`, quoted in the results"
    ),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
) -> None:
    """Evaluate every run on the test data (entity span P/R/F per type; each classifier's
    macro-F1, weighted-F1 and accuracy) and write the mean ± std over the runs with the
    published figures and their sources."""
    import spacy
    from spacy.util import registry

    from ..annotate import load_pipeline
    from ..errors import BetoConfigError
    from ..evaluation.literature import markdown_summary, summarize_runs
    from ..evaluation.report import evaluate_pipeline

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    with clear_errors():
        if not data_path.exists():
            raise BetoConfigError(f"{data_path}: no such file or directory")
        found = model_dirs(runs)
        extra = {}
        if restore_report is not None:
            if not restore_report.is_file():
                raise BetoConfigError(f"{restore_report}: no such file (restore-labels --report)")
            extra["restore"] = json.loads(restore_report.read_text(encoding="utf8"))
        read_corpus = registry.readers.get("spacy-beto.Corpus.v1")
        scores = {}
        for name, path in found.items():
            nlp = load_pipeline(str(path))
            examples = list(read_corpus(data_path, gold_preproc=False)(nlp))
            msg.info(f"{name}: evaluating {path} on {len(examples)} documents from {data_path}")
            scores[name.removeprefix("seed ")] = evaluate_pipeline(nlp, examples)
    summary = summarize_runs(scores, data=str(data_path), extra=extra)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf8")
    written = [str(output_path)]
    if markdown_path is not None:
        text = "# Test-split evaluation\n\n" + markdown_summary(summary)
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(text, encoding="utf8")
        written.append(str(markdown_path))
    stats = summary["mean_std"]
    shown = [
        f"{key} {stats[key]['mean'] * 100:.2f} ± {stats[key]['std'] * 100:.2f}"
        for key in ("ents_f", "cats_macro_f", "cats_weighted_f", "cats_accuracy")
        if key in stats
    ]
    msg.good(f"Wrote {', '.join(written)} ({len(found)} runs: {', '.join(shown)})")
