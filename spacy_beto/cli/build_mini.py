"""`build-mini`: a BETO-architecture mini BERT, built offline."""

from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from . import app
from ._util import clear_errors


@app.command("build-mini")
def build_mini_cli(
    texts: Optional[List[Path]] = typer.Argument(
        None, help="JSONL (field 'text') or .txt files/dirs to train the WordPiece vocab on"
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Model directory to write"),
    vocab: Optional[Path] = typer.Option(None, help="Use this vocab.txt (e.g. BETO's) instead"),
    vocab_size: int = typer.Option(8000, help="WordPiece vocabulary size to train"),
    min_frequency: int = typer.Option(2, help="Minimum frequency of a trained piece"),
    layers: int = typer.Option(2, help="Transformer layers"),
    hidden: int = typer.Option(128, help="Hidden size"),
    heads: int = typer.Option(2, help="Attention heads (must divide --hidden)"),
    intermediate: Optional[int] = typer.Option(None, help="Feed-forward size (4 x hidden)"),
    max_position: int = typer.Option(512, help="Maximum word pieces per window"),
    seed: int = typer.Option(0, help="Random seed of the weights"),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Skip bad text lines (counted and listed) instead of failing"
    ),
) -> None:
    """Build a randomly initialised BERT with BETO's tokenizer layout, loadable by AutoModel."""
    from ..mini import build_mini

    msg.info(f"Building a {layers}-layer BERT (hidden {hidden}) in {output}")
    with clear_errors():
        out = build_mini(
            output,
            texts=texts,
            vocab_path=vocab,
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            layers=layers,
            hidden=hidden,
            heads=heads,
            intermediate=intermediate,
            max_position=max_position,
            seed=seed,
            skip_invalid=skip_invalid,
        )
    n_vocab = sum(1 for _ in (out / "vocab.txt").open(encoding="utf8"))
    msg.good(f"Wrote {out} ({layers} layers, hidden {hidden}, vocab {n_vocab})")
