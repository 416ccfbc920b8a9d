"""The encoder alone on random batch shapes: does torch keep memory per shape?

    python benchmarks/soak_encoder_shapes.py assets/mini-beto --calls 600
    ONEDNN_PRIMITIVE_CACHE_CAPACITY=0 MKL_DISABLE_FAST_MM=1 python benchmarks/soak_encoder_shapes.py

Every 100 calls (after gc and malloc_trim): RSS, glibc heap in use / free, mmapped bytes.
"""

import argparse
import gc
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak  # noqa: E402
import soak_diag  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--max-rows", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch
    from transformers import AutoModel

    torch.set_num_threads(args.threads)
    model = AutoModel.from_pretrained(args.model_dir).eval()
    rng = random.Random(0)
    start = time.time()
    for k in range(1, args.calls + 1):
        width = rng.randint(4, 140)
        rows = max(1, min(rng.randint(1, args.max_rows), 4096 // width))
        ids = torch.randint(6, 3000, (rows, width))
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
        if k % 100 == 0:
            gc.collect()
            soak_diag.trim()
            heap = soak_diag.heap_mb()
            print(
                f"{k} rss={soak.rss_mb():.1f} used={heap['heap_used']:.2f} "
                f"free={heap['heap_free']:.2f} mmapped={heap['mmapped']:.1f} "
                f"{time.time() - start:.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
