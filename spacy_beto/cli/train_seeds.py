"""`train-seeds`: `spacy train` once per seed, for scores reported as mean ± std."""

import json
import subprocess
import sys
from pathlib import Path
from typing import List

import typer
from wasabi import msg

from . import app


def parse_seeds(value: str) -> List[int]:
    """ "0 1 2" or "0,1,2" -> [0, 1, 2]; raises BetoConfigError naming --seeds."""
    from ..errors import BetoConfigError

    parts = value.replace(",", " ").split()
    if not parts or not all(p.lstrip("-").isdigit() for p in parts):
        raise BetoConfigError(f"--seeds: expected integers like '0 1 2', got {value!r}.")
    seeds = [int(p) for p in parts]
    if len(set(seeds)) != len(seeds):
        raise BetoConfigError(f"--seeds: a seed is given twice in {value!r}.")
    return seeds


def run_dir(output: Path, seeds: List[int], seed: int) -> Path:
    """The first seed's run is OUTPUT itself (OUTPUT/model-best is the packaged model); the
    others are OUTPUT/seed-N."""
    return output if seed == seeds[0] else output / f"seed-{seed}"


@app.command(
    "train-seeds",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def train_seeds_cli(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., help="Training config"),
    output_dir: Path = typer.Option(..., "--output", "-o", help="Output directory"),
    seeds: str = typer.Option("0 1 2", help="Seeds, space- or comma-separated ('0 1 2')"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
) -> None:
    """Run `spacy train CONFIG` once per seed (--system.seed N): the first seed into OUTPUT,
    the others into OUTPUT/seed-N; further options (--paths.train ...) go to `spacy train`.
    Writes OUTPUT/seeds.json, the runs' model-best directories by seed (for `test-eval`)."""
    from ._util import clear_errors

    with clear_errors():
        seed_list = parse_seeds(seeds)
    runs = {}
    for i, seed in enumerate(seed_list):
        out = run_dir(output_dir, seed_list, seed)
        msg.divider(f"Seed {seed} ({i + 1} of {len(seed_list)}) -> {out}")
        cmd = [sys.executable, "-m", "spacy", "train", str(config_path), "--output", str(out),
               "--gpu-id", str(gpu_id), *ctx.args, "--system.seed", str(seed)]  # fmt: skip
        result = subprocess.run(cmd)
        if result.returncode != 0:
            msg.fail(f"spacy train failed for seed {seed} (exit {result.returncode})", exits=1)
        runs[str(seed)] = str(out / "model-best")
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "seeds.json").write_text(json.dumps({"runs": runs}, indent=2), encoding="utf8")
    msg.good(f"Trained {len(runs)} seeds; wrote {output_dir / 'seeds.json'}")
