"""Soak test: stream many varied Spanish documents through a pipeline and watch its memory.

    python benchmarks/soak.py [--model es_beto_trf|PATH] [--n-docs 20000] [--data-dir DIR]

Without --model a tiny untrained pipeline (1-layer BERT built from the project corpus) is built
in a temporary directory: memory behaviour does not depend on the weights' values. RSS is read
every --every documents; growth is measured from the end of --warmup documents to the end.
Documents are processed in chunks of --every inside `nlp.memory_zone()` (turn off with
--no-memory-zone to see spaCy's string store grow with every new word).
"""

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

ROOT = Path(__file__).resolve().parent.parent
EMOJI = ["🎉", "😂", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🤷🏿‍♀️", "❤️", "🔥"]
NAMES = ["Ana", "Luis", "Ñuño", "Begoña", "Íñigo", "Raúl", "Lucía", "Jesús", "Ángela", "Óscar"]


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc; ru_maxrss peak elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def base_texts(data_dir: Optional[Path]) -> List[str]:
    """The project corpus texts, plus CoNLL-2002 sentences and EmoEvent tweets if given."""
    from spacy_beto.corpus.texts import iter_texts

    texts = list(iter_texts([ROOT / "corpus" / "ner", ROOT / "corpus" / "emotion"]))
    if data_dir is not None:
        conll = data_dir / "conll2002" / "esp.train"
        if conll.is_file():
            words: List[str] = []
            for line in conll.read_text(encoding="latin-1").splitlines():
                if line.strip():
                    words.append(line.split()[0])
                elif words:
                    texts.append(" ".join(words))
                    words = []
        tweets = data_dir / "emoevent-es" / "train.tsv"
        if tweets.is_file():
            for line in tweets.read_text(encoding="utf8").splitlines()[1:]:
                cols = line.split("\t")
                if len(cols) >= 3:
                    texts.append(cols[2])
    return texts


def generate(texts: List[str], n_docs: int, *, seed: int) -> Iterator[str]:
    """`n_docs` varied documents: corpus texts, recombined and varied so most are new strings."""
    rng = random.Random(seed)
    for i in range(n_docs):
        kind = rng.random()
        if kind < 0.002:
            doc = " ".join(rng.choice(texts) for _ in range(60))  # long: several windows
        elif kind < 0.004:
            doc = rng.choice(["", " ", "\n\n", "¡¿...?!", "\ufeff", "\x00"])
        else:
            doc = " ".join(rng.choice(texts) for _ in range(rng.randint(1, 3)))
        extras = [
            f"#{rng.choice(NAMES)}{rng.randint(0, 10**6)}",  # a new hashtag (new string)
            f"https://ejemplo.es/{i}/{rng.getrandbits(40):x}",
            f"{rng.choice(NAMES)}{rng.choice(['', 'ez', 'ito'])} {rng.randint(1, 9999)}",
            rng.choice(EMOJI),
        ]
        rng.shuffle(extras)
        doc = f"{doc} {' '.join(extras[: rng.randint(0, 4)])}"
        if rng.random() < 0.05:
            doc = doc.upper()
        yield doc


def build_tiny_pipeline(
    workdir: Path,
    *,
    layers: int = 1,
    hidden: int = 32,
    heads: int = 2,
    vocab_size: int = 2000,
    encoder: Optional[Path] = None,
):
    """transformer + ner + textcat on `encoder`, or on a BERT built from the corpus (random
    weights)."""
    import spacy
    from spacy.training import Example

    from spacy_beto.corpus.convert import CONLL_LABELS, EMOTION_LABELS, ner_doc, textcat_doc
    from spacy_beto.mini import build_mini

    corpus = ROOT / "corpus"
    model_dir = encoder or build_mini(
        workdir / "tiny-bert",
        texts=[corpus / "ner" / "train.jsonl", corpus / "emotion" / "train.jsonl"],
        vocab_size=vocab_size,
        layers=layers,
        hidden=hidden,
        heads=heads,
    )
    nlp = spacy.blank("es")
    nlp.add_pipe("beto_transformer", name="transformer", config={"model": {"name": str(model_dir)}})
    nlp.add_pipe("beto_ner", name="ner")
    nlp.add_pipe("beto_textcat", name="textcat")
    examples = []
    for task, make in (("ner", ner_doc), ("emotion", textcat_doc)):
        labels = CONLL_LABELS if task == "ner" else EMOTION_LABELS
        lines = (corpus / task / "train.jsonl").read_text(encoding="utf8").splitlines()[:30]
        for i, line in enumerate(lines):
            ref = make(nlp, json.loads(line), f"{task}:{i}", labels)
            examples.append(Example(nlp.make_doc(ref.text), ref))
    nlp.initialize(lambda: examples)
    return nlp


def soak(
    nlp,
    texts: Iterator[str],
    *,
    n_docs: int,
    every: int,
    batch_size: int,
    memory_zone: bool,
) -> List[Dict[str, float]]:
    """Process the texts in chunks of `every`; return one measurement per chunk."""
    import contextlib
    import gc

    rows = [{"docs": 0, "rss_mb": rss_mb(), "strings": len(nlp.vocab.strings), "seconds": 0.0}]
    start = time.perf_counter()
    done = n_ents = 0
    while done < n_docs:
        chunk = [text for _, text in zip(range(min(every, n_docs - done)), texts)]
        zone = nlp.memory_zone() if memory_zone else contextlib.nullcontext()
        with zone:
            for doc in nlp.pipe(chunk, batch_size=batch_size):
                n_ents += len(doc.ents)  # use the outputs, then drop the doc
        done += len(chunk)
        gc.collect()
        rows.append(
            {
                "docs": done,
                "rss_mb": rss_mb(),
                "strings": len(nlp.vocab.strings),
                "seconds": time.perf_counter() - start,
            }
        )
        logging.info("%s", rows[-1])
    return rows


def summarize(rows: List[Dict[str, float]], warmup: int) -> Dict[str, float]:
    """RSS growth (%) from the first measurement at or after `warmup` docs to the last one."""
    base = next(row for row in rows if row["docs"] >= warmup)
    last = rows[-1]
    after = [row["rss_mb"] for row in rows if row["docs"] >= warmup]
    return {
        "warmup_docs": base["docs"],
        "rss_after_warmup_mb": base["rss_mb"],
        "rss_final_mb": last["rss_mb"],
        "rss_max_after_warmup_mb": max(after),
        "growth_pct": 100 * (last["rss_mb"] - base["rss_mb"]) / base["rss_mb"],
        "max_growth_pct": 100 * (max(after) - base["rss_mb"]) / base["rss_mb"],
        "docs_per_s": last["docs"] / last["seconds"],
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="pipeline path or package (default: a tiny pipeline)")
    parser.add_argument(
        "--size",
        default="1,32,2,2000",
        help="layers,hidden,heads,vocab of the built pipeline (the project's mini: 4,256,4,8000)",
    )
    parser.add_argument(
        "--encoder",
        type=Path,
        help="HF encoder dir for the built pipeline instead of --size (e.g. the BETO-shaped "
        "random BERT-base that benchmarks/speed.py caches in assets/speed/beto-random)",
    )
    parser.add_argument("--n-docs", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=1_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--data-dir", type=Path, help="e.g. ../shared/data (CoNLL-2002, EmoEvent)")
    parser.add_argument("--no-memory-zone", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write rows and summary here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import spacy
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            nlp = spacy.load(args.model)
        else:
            layers, hidden, heads, vocab_size = map(int, args.size.split(","))
            nlp = build_tiny_pipeline(
                Path(tmp),
                layers=layers,
                hidden=hidden,
                heads=heads,
                vocab_size=vocab_size,
                encoder=args.encoder,
            )
        texts = generate(base_texts(args.data_dir), args.n_docs, seed=args.seed)
        rows = soak(
            nlp,
            texts,
            n_docs=args.n_docs,
            every=args.every,
            batch_size=args.batch_size,
            memory_zone=not args.no_memory_zone,
        )
    summary = summarize(rows, args.warmup)
    print("| docs | RSS MiB | strings | seconds |")
    print("|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['docs']:,} | {row['rss_mb']:.1f} | {row['strings']:,} | {row['seconds']:.0f} |"
        )
    print()
    for key, value in summary.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
