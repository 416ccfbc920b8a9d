"""Overhead of `annotate_ray` against the best single-process `nlp.pipe`, same texts.

    python benchmarks/scale.py --json benchmarks/scale.json

Texts: `benchmarks/speed.py`'s mix (CoNLL-2002 sentences, tweets, multi-sentence documents from
../shared/data; the project corpus repeated without it). Pipeline: es_beto_trf's config
(configs/beto.cfg, untrained heads with the real labels) on a small BETO-layout encoder
(`--layers/--hidden`, BETO's vocabulary from ../shared when there, else one trained on the
corpus). Timing is for the annotation only: the pipeline is loaded before the clock starts for
`nlp.pipe`; for Ray two figures are given, the whole `annotate_ray` call on a started local
Ray (planning, actor start and pipeline load, writing the shards) and the processing span
(first shard started -> last shard written, in the actors).

Baseline sweep: torch threads x `nlp.pipe` batch size, in this process. Ray: `--actors`
actors of one thread each (`ray.init(num_cpus=actors)`), shards of `--shard-size` texts, the
baseline's best batch size. `--actors-sweep 1,2,4,8` adds a scaling curve (on a machine with
that many cores).
"""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from speed import DEFAULT_SHARED, build_a, load_texts  # noqa: E402

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def machine() -> Dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }


def ensure_pipeline(work_dir: Path, shared: Optional[Path], layers: int, hidden: int) -> Path:
    from spacy_beto.mini import build_mini

    out = work_dir / f"pipeline-l{layers}-h{hidden}"
    if (out / "meta.json").exists():
        return out
    encoder = work_dir / f"encoder-l{layers}-h{hidden}"
    vocab = shared / "beto" / "cased" / "vocab.txt" if shared else None
    common = dict(layers=layers, hidden=hidden, heads=max(1, hidden // 64), seed=0)
    if vocab is not None and vocab.exists():
        build_mini(encoder, vocab_path=vocab, **common)
    else:
        corpus = [
            ROOT / "corpus" / "ner" / "train.jsonl",
            ROOT / "corpus" / "emotion" / "train.jsonl",
        ]
        build_mini(encoder, texts=corpus, **common)
    nlp = build_a(encoder)
    nlp.to_disk(out)
    return out


def time_pipe(nlp, texts: List[str], batch_size: int) -> float:
    start = time.perf_counter()
    for doc in nlp.pipe(texts, batch_size=batch_size):
        doc.ents, doc.cats  # noqa: B018 - the outputs users read
    return time.perf_counter() - start


@app.command()
def main(
    shared: Optional[Path] = typer.Option(DEFAULT_SHARED, "--shared-dir", help="../shared"),
    work_dir: Path = typer.Option(ROOT / "assets" / "scale", help="Cache: encoder, pipeline"),
    n_texts: int = typer.Option(2000, help="Number of texts"),
    layers: int = typer.Option(4, help="Encoder layers"),
    hidden: int = typer.Option(256, help="Encoder width"),
    batch_sizes: str = typer.Option("16,64,256", help="nlp.pipe batch sizes to sweep"),
    threads: str = typer.Option("1,2", help="torch threads to sweep (baseline)"),
    actors: int = typer.Option(2, help="Ray actors (one thread each) for the overhead figure"),
    actors_sweep: str = typer.Option("", help="e.g. 1,2,4,8: scaling curve"),
    shard_size: int = typer.Option(100, help="Texts per shard"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write results here"),
) -> None:
    import ray
    import spacy
    import torch

    from spacy_beto.distributed import annotate_ray

    work_dir.mkdir(parents=True, exist_ok=True)
    shared = shared if shared and shared.exists() else None
    texts = load_texts(shared=shared, n_texts=n_texts)
    n_words = sum(len(t.split()) for t in texts)
    model = ensure_pipeline(work_dir, shared, layers, hidden)
    info = {"before": machine()}
    msg.info(f"{len(texts)} texts, {n_words} words; {model}; {info['before']['uptime']}")

    nlp = spacy.load(model)
    time_pipe(nlp, texts[:50], 16)  # warm-up
    baseline: Dict[str, float] = {}
    for n_threads in [int(t) for t in threads.split(",")]:
        torch.set_num_threads(n_threads)
        for bs in [int(b) for b in batch_sizes.split(",")]:
            seconds = time_pipe(nlp, texts, bs)
            baseline[f"threads={n_threads} batch={bs}"] = seconds
            msg.text(f"nlp.pipe threads={n_threads} batch={bs}: {seconds:.1f} s")
    best_name = min(baseline, key=baseline.get)
    best = baseline[best_name]
    best_bs = int(best_name.split("batch=")[1])

    src = work_dir / "texts.jsonl"
    src.write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), "utf8"
    )
    ray_runs: Dict[str, Dict[str, float]] = {}
    counts = sorted({actors, *[int(a) for a in actors_sweep.split(",") if a]})
    for n_actors in counts:
        ray.init(address="local", num_cpus=n_actors, include_dashboard=False)
        try:
            out = work_dir / f"out-{n_actors}"
            subprocess.run(["rm", "-rf", str(out)], check=True)
            start = time.perf_counter()
            summary = annotate_ray(
                model,
                src,
                out,
                shard_size=shard_size,
                batch_size=best_bs,
                num_workers=n_actors,
                threads_per_worker=1,
                ray_progress=False,
            )
            wall = time.perf_counter() - start
        finally:
            ray.shutdown()
        assert summary.n_written == len(texts) and summary.n_failed == 0
        ray_runs[str(n_actors)] = {
            "call_s": wall,
            "processing_s": summary.processing_seconds,
            "ratio_call": best / wall,
            "ratio_processing": best / summary.processing_seconds,
        }
        msg.text(
            f"annotate_ray {n_actors} actors: call {wall:.1f} s, processing "
            f"{summary.processing_seconds:.1f} s -> {best / wall:.2f}x / "
            f"{best / summary.processing_seconds:.2f}x the best nlp.pipe ({best_name})"
        )
    info["after"] = machine()
    result = {
        "setup": {
            "n_texts": len(texts),
            "words": n_words,
            "encoder": {"layers": layers, "hidden": hidden},
            "texts": "speed.py mix from ../shared" if shared else "project corpus, repeated",
            "shard_size": shard_size,
        },
        "machine": info,
        "baseline_s": baseline,
        "best_baseline": {"setting": best_name, "seconds": best, "words_per_s": n_words / best},
        "ray": ray_runs,
    }
    msg.good(json.dumps(result["ray"], indent=2))
    if json_path:
        json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
        msg.good(f"Wrote {json_path}")


if __name__ == "__main__":
    app()
