"""`pretrain`: whole-word-masking MLM (+ optional NSP) on raw text, BETO style."""

import logging
import signal
import threading
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from . import app
from ._util import clear_errors


@app.command("pretrain")
def pretrain_cli(
    texts: List[Path] = typer.Argument(
        ..., help="Text files/dirs: one sentence or document per line (.txt) or JSONL 'text'"
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Model directory to write"),
    init: Optional[str] = typer.Option(
        None, help="Start from these weights: model directory or hub name (e.g. BETO)"
    ),
    config: Optional[Path] = typer.Option(
        None, "--config", help="Start from scratch: directory with config.json + tokenizer"
    ),
    dev: Optional[Path] = typer.Option(None, help="Held-out text file: MLM loss / perplexity"),
    max_steps: int = typer.Option(10_000, help="Optimizer steps (the LR schedule spans them)"),
    batch_size: int = typer.Option(32, help="Sequences per step"),
    lr: float = typer.Option(1e-4, help="Peak learning rate (AdamW)"),
    warmup_steps: Optional[int] = typer.Option(None, help="Linear warmup (10 % of steps)"),
    schedule: str = typer.Option("linear", help="Decay after warmup: linear or cosine"),
    weight_decay: float = typer.Option(0.01, help="AdamW weight decay"),
    nsp_weight: float = typer.Option(0.0, help="λ in L = L_MLM + λ·L_NSP; 0 = no NSP"),
    max_length: int = typer.Option(128, help="Word pieces per sequence"),
    pack: bool = typer.Option(
        True, "--pack/--no-pack", help="Full sequences of running text (--no-pack: one line each)"
    ),
    word_rate: float = typer.Option(0.15, help="Fraction of words masked"),
    seed: int = typer.Option(0, help="Random seed (weights, data order, masks, dropout)"),
    eval_every: int = typer.Option(1000, help="Dev evaluation every N steps"),
    checkpoint_every: int = typer.Option(1000, help="Checkpoint every N steps"),
    keep_checkpoints: int = typer.Option(2, help="Checkpoints kept"),
    log_every: int = typer.Option(50, help="Progress line every N steps"),
    dev_max_lines: int = typer.Option(2000, help="Dev lines used"),
    max_line_bytes: int = typer.Option(1_000_000, help="Longer lines are skipped and counted"),
    chunk_lines: int = typer.Option(50_000, help="Lines read and shuffled together"),
    max_minutes: Optional[float] = typer.Option(None, help="Stop (and save) after this time"),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
    bf16: Optional[bool] = typer.Option(
        None, "--bf16/--no-bf16", help="bfloat16 autocast (default: on for a GPU with bf16)"
    ),
) -> None:
    """Pretrain or domain-adapt a BERT encoder (whole-word masking) into a model directory."""
    from ..pretrain import PretrainConfig, pretrain

    logging.basicConfig(format="%(message)s")
    logging.getLogger("spacy_beto").setLevel(logging.INFO)
    with clear_errors():
        cfg = PretrainConfig(
            max_steps=max_steps,
            batch_size=batch_size,
            lr=lr,
            warmup_steps=warmup_steps,
            schedule=schedule,
            weight_decay=weight_decay,
            nsp_weight=nsp_weight,
            max_length=max_length,
            seed=seed,
            word_rate=word_rate,
            max_line_bytes=max_line_bytes,
            chunk_lines=chunk_lines,
            pack=pack,
            checkpoint_every=checkpoint_every,
            keep_checkpoints=keep_checkpoints,
            eval_every=eval_every,
            log_every=log_every,
            dev_max_lines=dev_max_lines,
            max_minutes=max_minutes,
            device="cpu" if gpu_id < 0 else f"cuda:{gpu_id}",
            bf16=bf16,
        )
        source = init or config
        msg.info(f"Pretraining {source} on {len(texts)} input(s) -> {output}")
        # SIGTERM (a job scheduler, `kill`) stops like Ctrl-C: a checkpoint is written first.
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
        try:
            result = pretrain(
                texts,
                output=output,
                init=init,
                config_dir=str(config) if config is not None else None,
                dev=dev,
                config=cfg,
                resume=resume,
            )
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)
    summary = f"Wrote {output} after {result.steps} steps"
    if result.curve:
        last = result.curve[-1]
        summary += f"; dev MLM loss {last['dev_loss']}, perplexity {last['dev_perplexity']}"
    if result.steps < cfg.max_steps:
        msg.warn(
            f"{summary}. --max-minutes stopped it before step {cfg.max_steps}, where its "
            "learning-rate schedule ends: the same command with --resume continues it."
        )
    else:
        msg.good(summary)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
