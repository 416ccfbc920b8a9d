"""Peak-RSS flatness of es_beto_trf over many documents (keep_trf_data on and off).

    python benchmarks/rss_flat.py --model-dir assets/q/mini-beto --n-docs 20000

Each setting runs in its own process: RSS is sampled after a warm-up of 10 % of the documents
and at the end. Docs are either streamed (dropped after use) or held (as users who collect
`list(nlp.pipe(...))` do).
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def run_one(model_dir: Path, n_docs: int, keep: bool, threads: int, hold_docs: bool) -> dict:
    import torch

    torch.set_num_threads(threads)
    texts = speed.load_texts(shared=speed.DEFAULT_SHARED, n_texts=2000)
    nlp = speed.build_a(model_dir)
    if keep:
        nlp.remove_pipe("doc_cleaner")  # doc._.trf_data stays on the docs
    docs, samples = [], []
    warm = n_docs // 10
    stream = (texts[i % len(texts)] for i in range(n_docs))
    for i, doc in enumerate(nlp.pipe(stream, batch_size=256), start=1):
        if hold_docs:
            docs.append(doc)
        if i == warm or i % 2000 == 0 or i == n_docs:
            samples.append((i, round(speed.current_rss_mb(), 1)))
    after_warm = dict(samples)[warm]
    return {
        "keep_trf_data": keep,
        "docs_held": hold_docs,
        "n_docs": n_docs,
        "rss_after_warmup_mb": after_warm,
        "rss_end_mb": samples[-1][1],
        "growth": samples[-1][1] / after_warm - 1,
        "samples": samples,
    }


@app.command()
def main(
    model_dir: Path = typer.Option(..., help="Encoder directory"),
    n_docs: int = typer.Option(20000, help="Documents to run (and keep)"),
    threads: int = typer.Option(2, help="torch threads"),
    settings: str = typer.Option(
        "drop-streamed,drop-held,keep-held", help="trf_data drop|keep - docs streamed|held"
    ),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write results here"),
    child: Optional[str] = typer.Option(None, hidden=True),
) -> None:
    """RSS growth after warm-up with doc._.trf_data dropped (default) and kept."""
    if child is not None:
        keep, hold = child.split("-")
        result = run_one(model_dir, n_docs, keep == "keep", threads, hold == "held")
        print("RESULT " + json.dumps(result))
        return
    results = []
    for setting in settings.split(","):
        cmd = [sys.executable, __file__, "--model-dir", str(model_dir), "--n-docs", str(n_docs)]
        cmd += ["--threads", str(threads)]
        out = subprocess.run(cmd + ["--child", setting], capture_output=True, text=True)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            msg.fail(f"{setting} failed:\n{out.stderr[-2000:]}", exits=1)
        results.append(json.loads(lines[-1][7:]))
        r = results[-1]
        msg.text(
            f"keep_trf_data={r['keep_trf_data']}, docs held={r['docs_held']}: "
            f"{r['rss_after_warmup_mb']:.0f} MB after "
            f"warm-up -> {r['rss_end_mb']:.0f} MB after {n_docs} docs ({100 * r['growth']:+.1f} %)"
        )
    if json_path:
        json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    app()
