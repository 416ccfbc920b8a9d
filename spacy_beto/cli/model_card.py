"""`model-card`: the meta.json overrides that make `spacy package` write a complete model card."""

import json
from pathlib import Path
from typing import Any, Dict

import typer
from wasabi import msg

from ..errors import BetoConfigError
from . import app
from ._util import clear_errors


def build_card(metrics: Dict[str, Any], card: Dict[str, Any], transformer: str) -> Dict[str, Any]:
    """Merge evaluation metrics (from `spacy evaluate --output`) into the card's meta overrides:
    entity scores and the scores of every text classifier (`cats_*`, `offensive_*`, ...)."""
    from ..evaluation.report import category_prefixes, markdown_table, prf_rows

    prefixes = category_prefixes(metrics)
    keep = tuple(f"{prefix}_" for prefix in ["ents", *prefixes])
    performance = {
        k: v for k, v in metrics.items() if isinstance(v, (int, float, dict)) and k.startswith(keep)
    }
    notes = [f"### Transformer\n\nBuilt on `{transformer}`."]
    ents = metrics.get("ents_per_type") or {}
    if ents:
        table = markdown_table(["Label", "P", "R", "F"], prf_rows(sorted(ents.items())))
        notes.append("### Entities per type (dev)\n\n" + table)
    for prefix in prefixes:
        title = "Categories" if prefix == "cats" else f"Categories: `{prefix}`"
        per_class = sorted(metrics[f"{prefix}_f_per_type"].items())
        table = markdown_table(["Label", "P", "R", "F"], prf_rows(per_class))
        notes.append(f"### {title} per class (dev)\n\n" + table)
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
) -> None:
    """Write meta.json overrides: description, sources and licenses, metrics, transformer."""
    with clear_errors():
        for path in (metrics_path, card_path):
            if not path.is_file():
                raise BetoConfigError(f"{path}: no such file")
        metrics = json.loads(metrics_path.read_text(encoding="utf8"))
        card = json.loads(card_path.read_text(encoding="utf8"))
        meta = build_card(metrics, card, transformer)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf8")
    msg.good(f"Wrote {output_path}")
