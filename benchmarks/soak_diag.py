"""Where does a soak run's memory go? `soak.py`'s stream with a breakdown of RSS per chunk.

    python benchmarks/soak_diag.py --model es_beto_trf --data-dir ../shared/data --n-docs 8000
    MALLOC_ARENA_MAX=2 python benchmarks/soak_diag.py ...        # glibc settings: environment
    python benchmarks/soak_diag.py ... --tracemalloc             # Python allocations (slower)

Every `--every` documents (inside `nlp.memory_zone()`, as soak.py) one row: RSS; glibc's heap
(`mallinfo2`: bytes in use, free bytes kept inside the heap, mmapped bytes; summed over arenas);
RSS by mapping kind from /proc/self/smaps (main heap, anonymous mappings such as thread arenas
and large mmapped blocks, file-backed); live Python objects, live `Doc`s and the size of the
string store. With `--tracemalloc` the Python allocations that grew between the warm-up and the
end are listed by source line. Linux + glibc only.
"""

import argparse
import ctypes
import gc
import logging
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak  # noqa: E402

MIB = 1024 * 1024


class MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (glibc >= 2.33): all fields size_t."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",  # non-mmapped bytes obtained from the OS (all arenas)
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",  # bytes in mmapped blocks
            "usmblks",
            "fsmblks",
            "uordblks",  # bytes in use
            "fordblks",  # free bytes kept in the heaps
            "keepcost",
        )
    ]


def _libc() -> Optional[ctypes.CDLL]:
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = MallInfo2
        return libc
    except (AttributeError, OSError):
        return None


LIBC = _libc()


def heap_mb() -> Dict[str, float]:
    """glibc heap: in use, free but kept, mmapped (MiB); empty without glibc >= 2.33."""
    if LIBC is None:
        return {}
    info = LIBC.mallinfo2()
    return {
        "heap_used": info.uordblks / MIB,
        "heap_free": info.fordblks / MIB,
        "mmapped": info.hblkhd / MIB,
    }


def smaps_mb() -> Dict[str, float]:
    """Resident MiB by mapping kind: [heap], anonymous (arenas, mmapped blocks), file-backed."""
    kinds = {"rss_heap": 0.0, "rss_anon": 0.0, "rss_file": 0.0}
    kind = "rss_anon"
    try:
        lines = Path("/proc/self/smaps").read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        first = line.split(maxsplit=6)
        if first and "-" in first[0] and len(first) >= 5 and ":" in first[3]:
            path = first[5] if len(first) > 5 else ""
            if path == "[heap]":
                kind = "rss_heap"
            elif path.startswith("/"):
                kind = "rss_file"
            else:
                kind = "rss_anon"
        elif line.startswith("Rss:"):
            kinds[kind] += int(line.split()[1]) / 1024
    return kinds


def count_docs() -> int:
    from spacy.tokens import Doc

    return sum(1 for obj in gc.get_objects() if type(obj) is Doc)


def trim() -> None:
    if LIBC is not None:
        LIBC.malloc_trim(0)


def run(
    nlp,
    texts: Iterator[str],
    *,
    n_docs: int,
    every: int,
    batch_size: int,
    after_batch: Optional[Callable[[], None]] = None,
    on_row: Optional[Callable[[int], None]] = None,
) -> List[Dict[str, float]]:
    """soak.py's loop, one breakdown row per chunk of `every` documents."""
    rows: List[Dict[str, float]] = []
    start = time.perf_counter()
    done = 0
    while done < n_docs:
        chunk = [text for _, text in zip(range(min(every, n_docs - done)), texts)]
        with nlp.memory_zone():
            for i, doc in enumerate(nlp.pipe(chunk, batch_size=batch_size), start=1):
                len(doc.ents)
                if after_batch is not None and i % batch_size == 0:
                    after_batch()
            doc = None  # noqa: F841 (no doc outlives its zone)
        done += len(chunk)
        gc.collect()
        row = {"docs": done, "rss": soak.rss_mb(), **heap_mb(), **smaps_mb()}
        row["objects"] = len(gc.get_objects())
        row["live_docs"] = count_docs()
        row["strings"] = len(nlp.vocab.strings)
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        logging.info(" ".join(f"{k}={v:.1f}" for k, v in row.items()))
        if on_row is not None:
            on_row(done)
    return rows


def print_table(rows: List[Dict[str, float]], warmup: int) -> None:
    keys = [k for k in rows[0] if k not in ("docs", "seconds")]
    print("| docs | " + " | ".join(keys) + " |")
    print("|---:|" + "---:|" * len(keys))
    for row in rows:
        cells = [f"{row[k]:.1f}" if isinstance(row[k], float) else f"{row[k]:,}" for k in keys]
        print(f"| {row['docs']:,} | " + " | ".join(cells) + " |")
    base = next(row for row in rows if row["docs"] >= warmup)
    last = rows[-1]
    n_k = (last["docs"] - base["docs"]) / 1000 or 1
    print(f"\nfrom {base['docs']:,} to {last['docs']:,} docs:")
    for key in keys:
        delta = last[key] - base[key]
        pct = f" ({100 * delta / base[key]:+.1f} %)" if base[key] else ""
        print(f"  {key}: {delta:+.1f}{pct}, {delta / n_k:+.2f} per 1,000 docs")
    print(f"  docs/s: {last['docs'] / last['seconds']:.1f}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="es_beto_trf", help="pipeline path or package")
    parser.add_argument("--data-dir", type=Path, help="e.g. ../shared/data")
    parser.add_argument("--n-docs", type=int, default=8_000)
    parser.add_argument("--every", type=int, default=1_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--trim-every-batch", action="store_true", help="malloc_trim after each batch too"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="list Python allocations grown after warm-up"
    )
    parser.add_argument("--top", type=int, default=15, help="lines of the tracemalloc diff")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import spacy
    import torch

    torch.set_num_threads(args.threads)
    nlp = spacy.load(args.model)
    texts = soak.generate(soak.base_texts(args.data_dir), args.n_docs, seed=args.seed)
    snapshots: list = []

    def on_row(done: int) -> None:
        if not args.tracemalloc:
            return
        if done == args.warmup:
            tracemalloc.start(5)
        elif done == args.n_docs and tracemalloc.is_tracing():
            snapshots.append(tracemalloc.take_snapshot())

    rows = run(
        nlp,
        texts,
        n_docs=args.n_docs,
        every=args.every,
        batch_size=args.batch_size,
        after_batch=trim if args.trim_every_batch else None,
        on_row=on_row,
    )
    print_table(rows, args.warmup)
    if snapshots:
        stats = snapshots[0].statistics("traceback")
        print(f"\nPython allocations alive at the end, made after {args.warmup:,} docs:")
        print(f"  total {sum(s.size for s in stats) / MIB:.2f} MiB in {len(stats)} tracebacks")
        for stat in stats[: args.top]:
            print(f"  {stat.size / 1024:.1f} KiB in {stat.count} blocks")
            for line in stat.traceback.format()[-6:]:
                print("     " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
