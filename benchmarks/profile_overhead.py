"""Where (a)'s or (b)'s CPU time goes when the encoder costs ~nothing (cProfile).

    python benchmarks/profile_overhead.py --variant a --vocab ../shared/beto/cased/vocab.txt
    py-spy record -o a.svg -- python benchmarks/profile_overhead.py --variant a --no-cprofile

Builds the variant of `speed.py --overhead` (1-layer, 32-wide BERT), warms it up, then runs
`nlp.pipe` over the same texts as speed.py under cProfile and prints the functions with the
most cumulative and own time, with their share of the total; `--json` keeps the top rows.
"""

import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def top_rows(stats: pstats.Stats, key: str, n: int, total: float) -> List[Dict]:
    """The `n` functions with the highest `key` ("cumulative" or "tottime")."""
    stats.sort_stats(key)
    rows = []
    for func in stats.fcn_list[:n]:  # type: ignore[attr-defined]
        calls, _, tottime, cumtime, _ = stats.stats[func]  # type: ignore[attr-defined]
        filename, line, name = func
        short = "/".join(Path(filename).parts[-2:]) if filename != "~" else ""
        rows.append(
            {
                "function": f"{short}:{line}({name})" if short else name,
                "calls": calls,
                "own_s": round(tottime, 3),
                "cumulative_s": round(cumtime, 3),
                "pct_of_total": round(
                    100 * (cumtime if key == "cumulative" else tottime) / total, 1
                ),  # noqa: E501
            }
        )
    return rows


@app.command()
def main(
    variant: str = typer.Option("a", help="a speed.py variant: a, an, aup, b, ..."),
    vocab: Optional[Path] = typer.Option(None, help="vocab.txt of the tiny encoder (BETO's)"),
    model_dir: Optional[Path] = typer.Option(None, help="Encoder dir (default: tiny, as speed.py)"),
    work_dir: Path = typer.Option(speed.ROOT / "assets" / "speed", help="Cache dir"),
    n_texts: int = typer.Option(2000, help="Number of texts"),
    batch_size: int = typer.Option(256, help="nlp.pipe batch size"),
    threads: int = typer.Option(1, help="torch threads"),
    top: int = typer.Option(30, help="Rows to print"),
    cprofile: bool = typer.Option(True, help="Run under cProfile (off: for py-spy)"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the top rows here"),
    texts_path: Optional[Path] = typer.Option(None, "--texts", help="JSON texts (--texts-out)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to run on (-1: CPU)"),
) -> None:
    """Profile `nlp.pipe` of variant (a) or (b) with a tiny encoder (or `--model-dir`). Only
    the calling thread is profiled: profile a variant without prefetch (e.g. an, adn)."""
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    if gpu_id >= 0:
        speed.use_gpu(gpu_id)
    shared = speed.DEFAULT_SHARED if speed.DEFAULT_SHARED.exists() else None
    model = model_dir or speed.ensure_tiny_model(vocab=vocab, work_dir=work_dir)
    if texts_path is not None:
        texts = json.loads(texts_path.read_text(encoding="utf8"))[:n_texts]
    else:
        texts = speed.load_texts(shared=shared, n_texts=n_texts)
    n_words = sum(len(t.split()) for t in texts)
    base, mixed, _ = speed.parse_key(variant)
    if not speed.is_spacy_variant(base):
        msg.fail(f"{variant}: profile a spaCy pipeline variant (a..., b, bgc, q)", exits=1)
    nlp = speed.build_pipeline(base, model, mixed=mixed)
    speed.run_spacy(nlp, texts[:64], batch_size, [])
    profiler = cProfile.Profile() if cprofile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    speed.run_spacy(nlp, texts, batch_size, [])
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    note = " under cProfile" if profiler else ""
    msg.info(f"{variant}: {len(texts)} texts, {n_words} words in {seconds:.2f} s "
             f"({n_words / seconds:.0f} words/s{note})")  # fmt: skip
    if not profiler:
        return
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    result = {
        "variant": variant,
        "texts": len(texts),
        "words": n_words,
        "seconds": seconds,
        "profiled_seconds": total,
        "cumulative": top_rows(stats, "cumulative", top, total),
        "own": top_rows(stats, "tottime", top, total),
    }
    for key, title in (("cumulative", "cumulative time"), ("own", "own time")):
        rows = [
            (r["function"][-70:], r["calls"], r["own_s"], r["cumulative_s"], r["pct_of_total"])
            for r in result[key]
        ]
        msg.divider(f"top {top} by {title} (total {total:.2f} s)")
        msg.table(rows, header=("function", "calls", "own s", "cum s", "% total"))
    if json_path:
        json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
        msg.good(f"Wrote {json_path}")


if __name__ == "__main__":
    app()
