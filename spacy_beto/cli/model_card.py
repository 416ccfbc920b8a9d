"""`model-card`: the meta.json overrides that make `spacy package` write a complete model card."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence

import typer
from wasabi import msg

from ..errors import BetoConfigError
from . import app
from ._util import clear_errors

if TYPE_CHECKING:
    from ..heads import Head


def build_card(
    metrics: Dict[str, Any],
    card: Dict[str, Any],
    transformer: str,
    *,
    heads: Optional[Sequence["Head"]] = None,
    test_summary: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Merge evaluation metrics (from `spacy evaluate --output`) into the card's meta overrides:
    the scores and per-label tables of every head (entities `ents_*`, each text classifier's
    `cats_*`, `offensive_*`, ...). Without `heads`, they are recognised from the metrics.
    `test_summary` (from `test-eval`): the test-split scores over seeds, next to the published
    figures, as a notes section."""
    from ..heads import heads_from_scores, unique_scored

    heads = unique_scored(heads_from_scores(metrics) if heads is None else heads)
    keep = tuple(f"{head.prefix}_" for head in heads)
    performance = {
        k: v
        for k, v in metrics.items()
        if isinstance(v, (int, float, dict))
        and k.startswith(keep)
        and not k.endswith("_confidence")  # reliability bins: in the notes as ECE and AUROC
    }
    notes = [f"### Transformer\n\nBuilt on `{transformer}`."]
    for head in heads:
        notes += head.kind.card_notes(head, metrics)
    if test_summary is not None:
        from ..evaluation.literature import markdown_summary

        notes.append("### Test splits\n\n" + markdown_summary(test_summary, level=4).strip())
    out = dict(card)
    out["performance"] = performance
    out["notes"] = "\n\n".join([card.get("notes", "")] + notes).strip() + "\n"
    return out


@app.command("model-card")
def model_card_cli(
    metrics_path: Path = typer.Argument(..., help="Metrics JSON from `spacy evaluate --output`"),
    card_path: Path = typer.Argument(..., help="JSON with name, description, license, sources"),
    output_path: Path = typer.Argument(..., help="meta.json to pass to `spacy package --meta`"),
    transformer: str = typer.Option(..., help="Transformer the pipeline was built on"),
    test_metrics: Optional[Path] = typer.Option(
        None, help="JSON of `test-eval`: test-split scores over seeds, with published figures"
    ),
) -> None:
    """Write meta.json overrides: description, sources and licenses, metrics, transformer."""
    with clear_errors():
        for path in (metrics_path, card_path, *([test_metrics] if test_metrics else [])):
            if not path.is_file():
                raise BetoConfigError(f"{path}: no such file")
        metrics = json.loads(metrics_path.read_text(encoding="utf8"))
        card = json.loads(card_path.read_text(encoding="utf8"))
        summary = None
        if test_metrics is not None:
            summary = json.loads(test_metrics.read_text(encoding="utf8"))
            if "mean_std" not in summary:
                raise BetoConfigError(f"{test_metrics}: not a `test-eval` output (no mean_std)")
        meta = build_card(metrics, card, transformer, test_summary=summary)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf8")
    msg.good(f"Wrote {output_path}")
