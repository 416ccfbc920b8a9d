"""Why does `mixed_precision = true` slow es_beto_trf down on a GPU? One short diagnosis.

    python benchmarks/gpu/mp_probe.py MODEL_DIR --gpu-id 0 --json $OUT/mp_probe.json

1. The encoder alone, per call, at the shapes (a)'s length groups produce: fp32, fp16 autocast
   entered per call (as thinc's PyTorchShim.predict does), bf16 autocast, fp16 weights
   (`model.half()`, no autocast): GPU time (synchronized) and the CPU time to launch the call
   (not synchronized), and the dtypes of the outputs the listeners read.
2. (a) with and without `mixed_precision` on `--n-texts` texts under torch.profiler: CPU ops
   by self time, how many casts (`aten::_to_copy`) and CUDA kernels each ran.
"""

import contextlib
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional

import typer
from wasabi import msg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import speed  # noqa: E402

SHAPES = [(256, 16), (96, 40), (48, 80), (32, 128), (4, 128)]
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def timed(fn: Callable[[], object], sync: Callable[[], None], n: int) -> Dict[str, float]:
    """Median ms per call with a synchronize after each, and CPU ms to return from the call."""
    for _ in range(3):
        fn()
    sync()
    gpu, launch = [], []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        launch.append(time.perf_counter() - start)
        sync()
        gpu.append(time.perf_counter() - start)
    return {
        "ms_per_call": round(1000 * statistics.median(gpu), 3),
        "launch_ms": round(1000 * statistics.median(launch), 3),
    }


def encoder_table(model_dir: Path, device: str, n: int) -> Dict:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir)).eval().to(device)
    half = AutoModel.from_pretrained(str(model_dir)).eval().to(device).half()
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rows = {}
    dtypes = {}
    for batch, length in SHAPES:
        ids = torch.randint(10, 1000, (batch, length), device=device)
        mask = torch.ones_like(ids)
        mask[: batch // 2, length // 2 :] = 0  # some padding, as in a length group

        def run(m=model, ctx: Optional[Callable] = None, ids=ids, mask=mask) -> object:
            with torch.inference_mode(), ctx() if ctx else contextlib.nullcontext():
                return m(input_ids=ids, attention_mask=mask)

        def fp16() -> object:
            return torch.autocast("cuda")

        def bf16() -> object:
            return torch.autocast("cuda", dtype=torch.bfloat16)

        modes = {"fp32": run}
        if cuda:
            modes["fp16_autocast"] = partial(run, ctx=fp16)
            modes["bf16_autocast"] = partial(run, ctx=bf16)
            modes["fp16_weights"] = partial(run, m=half)
        rows[f"{batch}x{length}"] = {name: timed(fn, sync, n) for name, fn in modes.items()}
        if not dtypes:
            for name, fn in modes.items():
                out = fn()
                dtypes[name] = {k: str(v.dtype) for k, v in out.items() if hasattr(v, "dtype")}
    return {"per_shape": rows, "output_dtypes": dtypes}


def pipeline_profile(model_dir: Path, texts: List[str], gpu_id: int) -> Dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    result = {}
    for mixed in (False, True):
        if mixed and gpu_id < 0:
            continue
        overrides = {"components.transformer.model.mixed_precision": mixed}
        nlp = speed.build_a(model_dir, overrides)
        speed.run_spacy(nlp, texts[:32], 256, [])
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu_id >= 0 else [])
        start = time.perf_counter()
        with profile(activities=activities) as prof:
            speed.run_spacy(nlp, texts, 256, [])
            if gpu_id >= 0:
                torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        events = prof.key_averages()
        top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:25]
        kernels = sum(e.count for e in events if getattr(e, "device_type", None) is not None
                      and "CUDA" in str(e.device_type))  # fmt: skip
        result["mixed" if mixed else "fp32"] = {
            "seconds_profiled": round(seconds, 3),
            "to_copy_calls": sum(e.count for e in events if e.key == "aten::_to_copy"),
            "cuda_kernel_events": kernels,
            "top_self_cpu": [
                {
                    "op": e.key,
                    "calls": e.count,
                    "self_cpu_ms": round(e.self_cpu_time_total / 1e3, 2),
                }  # noqa: E501
                for e in top
            ],
        }
    return result


@app.command()
def main(
    model_dir: Path,
    gpu_id: int = typer.Option(0, help="GPU (-1: CPU, a smoke test)"),
    texts: Optional[Path] = typer.Option(None, help="Texts JSON (speed.py --texts-out)"),
    n_texts: int = typer.Option(300, help="Texts for the pipeline profile"),
    calls: int = typer.Option(20, help="Timed calls per shape and mode"),
    threads: int = typer.Option(4, help="torch CPU threads"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write results here"),
) -> None:
    """Encoder precision modes per call, and (a) fp32 vs mixed precision under the profiler."""
    import spacy
    import torch

    torch.set_num_threads(threads)
    device = "cpu"
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
        torch.cuda.set_device(gpu_id)
        device = f"cuda:{gpu_id}"
    shared = speed.DEFAULT_SHARED if speed.DEFAULT_SHARED.exists() else None
    if texts:
        text_list = speed.read_texts(texts)
    else:
        text_list = speed.load_texts(shared=shared, n_texts=n_texts)
    result = {"device": speed.gpu_name(gpu_id) or "CPU"}
    result["encoder"] = encoder_table(model_dir, device, calls)
    for shape, modes in result["encoder"]["per_shape"].items():
        msg.text(f"{shape}: " + ", ".join(f"{m} {v['ms_per_call']} ms (launch {v['launch_ms']})"
                                          for m, v in modes.items()))  # fmt: skip
    msg.text(f"output dtypes: {result['encoder']['output_dtypes']}")
    result["pipeline"] = pipeline_profile(model_dir, text_list[:n_texts], gpu_id)
    for mode, row in result["pipeline"].items():
        top = ", ".join(f"{r['op']} {r['self_cpu_ms']} ms" for r in row["top_self_cpu"][:6])
        kernels = row["cuda_kernel_events"]
        msg.text(f"(a) {mode}: {row['seconds_profiled']} s profiled, {row['to_copy_calls']} "
                 f"casts, {kernels} CUDA kernel events; top CPU ops: {top}")  # fmt: skip
    if json_path:
        json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
        msg.good(f"Wrote {json_path}")


if __name__ == "__main__":
    app()
