"""spaCy's side of a soak run alone: tokenize soak.py's stream in memory zones, no transformer.

    python benchmarks/soak_tokenizer_only.py training/mini/model-best --data-dir ../shared/data

Per 1,000 documents: RSS, glibc heap in use, the string store's hash-table capacity (preshed
keeps tombstones of the transient strings a memory zone forgets, and doubles the table).
"""

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak  # noqa: E402
import soak_diag  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--n-docs", type=int, default=20_000)
    args = parser.parse_args()
    import spacy

    nlp = spacy.load(args.model)
    texts = soak.generate(soak.base_texts(args.data_dir), args.n_docs, seed=0)
    start = time.time()
    for k in range(args.n_docs // 1000):
        chunk = [next(texts) for _ in range(1000)]
        with nlp.memory_zone():
            for text in chunk:
                nlp.make_doc(text).to_array(["NORM", "PREFIX", "SUFFIX", "SHAPE"])
        gc.collect()
        heap = soak_diag.heap_mb()
        print(
            f"{(k + 1) * 1000} rss={soak.rss_mb():.1f} used={heap['heap_used']:.2f} "
            f"cap={nlp.vocab.strings._map.capacity} strings={len(nlp.vocab.strings)} "
            f"{time.time() - start:.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
