"""Inference speed and memory of es_beto_trf against the alternatives, in one command.

    python benchmarks/speed.py --json benchmarks/speed.json

Same texts, same weights (a BETO-shaped BERT-base with random weights built from BETO's real
vocabulary in ../shared/beto/cased), CPU, `--threads` torch threads. Variants, each measured in
its own subprocess (so peak RSS is its own):

  a  es_beto_trf: beto_transformer + beto_ner + beto_textcat (configs/beto.cfg) via nlp.pipe
  b  spaCy's quickstart (`spacy init config -l es -p ner,textcat --optimize accuracy --gpu`)
  c  Hugging Face token-classification + text-classification pipelines (two forward passes)
  d  the limit: bare encoder forward, each text once, in length-sorted batches (the same
     padding-minimal groups as (a), spacy_beto.layers.grouping) under torch.inference_mode()
  q  (a) with the encoder's Linear layers dynamically quantized to int8 (`--variants` to add)
"""

import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import typer
from wasabi import msg

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = ROOT.parent / "shared"
NER_LABELS = ["PER", "ORG", "LOC", "MISC"]
EMOTIONS = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "others"]
NAMES = {
    "a": "es_beto_trf (nlp.pipe)",
    "a0": "(a), levers off: no groups, no inference_mode, keep_trf_data",
    "a1": "(a), windows in one padded call per batch (no length groups)",
    "a-inf": "(a), no inference_mode",
    "a16k": "(a), max_batch_items 16,384",
    "a64": "(a), nlp.pipe(batch_size=64): fewer windows sorted together",
    "aw256": "(a), windows of 256 tokens, stride 224 (a training-time choice)",
    "a-keep": "(a), keep_trf_data",
    "b": "spaCy quickstart trf",
    "c": "HF pipelines (tok+seq cls)",
    "d": "bare encoder (limit)",
    "q": "es_beto_trf int8",
}

# Variants of (a) with inference levers switched off, to measure what each one pays.
LEVERS_OFF = {
    "a0": {"inference_mode": False, "keep_trf_data": True, "group_items": 0},
    "a1": {"group_items": 0},
    "a-inf": {"inference_mode": False},
    "a16k": {"max_batch_items": 16384},
    "a64": {"pipe_batch_size": 64},
    "a-keep": {"keep_trf_data": True},
}
# Variants of (a) built from a changed config: they change outputs, so they are a choice made
# before training, measured here for what they would pay.
CONFIG_OVERRIDES = {
    "aw256": {
        "components.transformer.model.get_spans.window": 256,
        "components.transformer.model.get_spans.stride": 224,
    },
}
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class EncoderProbe:
    """Forward hooks on the encoder: calls, seconds inside it, real and padded word pieces."""

    def __init__(self) -> None:
        self.calls, self.seconds, self.real, self.padded = 0, 0.0, 0, 0
        self._start = 0.0

    def attach(self, module) -> None:
        module.register_forward_pre_hook(self._pre, with_kwargs=True)
        module.register_forward_hook(self._post)

    def _pre(self, module, args, kwargs) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        self.calls += 1
        self.padded += int(ids.numel())
        self.real += int(mask.sum()) if mask is not None else int(ids.numel())
        self._start = time.perf_counter()

    def _post(self, module, args, output) -> None:
        self.seconds += time.perf_counter() - self._start

    def take(self) -> Dict:
        """The counts since the last call."""
        out = {"calls": self.calls, "encoder_seconds": self.seconds}
        out.update(real_pieces=self.real, padded_pieces=self.padded)
        self.calls, self.seconds, self.real, self.padded = 0, 0.0, 0, 0
        return out


PROBE = EncoderProbe()


# ---------------------------------------------------------------- texts and model


def _detok(words: List[str]) -> str:
    text = " ".join(words)
    for punct in (" ,", " .", " ;", " :", " )", " ?", " !", " %"):
        text = text.replace(punct, punct[1:])
    return text.replace("( ", "(").replace("¿ ", "¿").replace("¡ ", "¡")


def _conll_sentences(path: Path) -> List[str]:
    sents, words = [], []
    for line in path.read_text(encoding="latin-1").splitlines():
        parts = line.split()
        if not parts:
            if words:
                sents.append(_detok(words))
            words = []
        elif parts[0] != "-DOCSTART-":
            words.append(parts[0])
    if words:
        sents.append(_detok(words))
    return [s for s in sents if len(s.split()) > 1]


def _tweets(path: Path) -> List[str]:
    rows = path.read_text(encoding="utf8").splitlines()[1:]
    return [row.split("\t")[2] for row in rows if row.count("\t") >= 4]


def load_texts(*, shared: Optional[Path], n_texts: int, seed: int = 0) -> List[str]:
    """Mixed-length Spanish texts: CoNLL-2002 sentences, 3-8 sentence documents, tweets."""
    rng = random.Random(seed)
    data = shared / "data" if shared else None
    if data is not None and (data / "conll2002" / "esp.testa").exists():
        conll = _conll_sentences(data / "conll2002" / "esp.testa")
        conll += _conll_sentences(data / "conll2002" / "esp.train")
        tweets = _tweets(data / "emoevent-es" / "dev.tsv")
        tweets += _tweets(data / "emoevent-es" / "train.tsv")
    else:
        msg.warn("No ../shared/data: using the project corpus, repeated")
        conll, tweets = [], []
        for task, out in (("ner", conll), ("emotion", tweets)):
            for split in ("train", "dev"):
                path = ROOT / "corpus" / task / f"{split}.jsonl"
                out.extend(json.loads(line)["text"] for line in path.open(encoding="utf8"))
    texts: List[str] = []
    i = j = 0
    while len(texts) < n_texts:
        kind = rng.random()
        if kind < 0.45:
            texts.append(conll[i % len(conll)])
            i += 1
        elif kind < 0.9:
            texts.append(tweets[j % len(tweets)])
            j += 1
        else:  # a short document of several sentences (some need more than one window)
            k = rng.randint(3, 8)
            texts.append(" ".join(conll[(i + n) % len(conll)] for n in range(k)))
            i += k
    return texts


def ensure_model(*, model_dir: Optional[Path], shared: Optional[Path], work_dir: Path) -> Path:
    """The encoder to benchmark: --model-dir, or a random BERT-base built from BETO's vocab."""
    if model_dir is not None:
        return model_dir
    out = work_dir / "beto-random"
    if (out / "config.json").exists():
        return out
    vocab = shared / "beto" / "cased" / "vocab.txt" if shared else None
    if vocab is None or not vocab.exists():
        msg.fail("Give --model-dir, or --shared-dir with beto/cased/vocab.txt", exits=1)
    from spacy_beto.mini import build_mini

    cfg = json.loads((vocab.parent / "config.json").read_text())
    msg.info(f"Building a BETO-shaped random BERT in {out}")
    return build_mini(
        out,
        vocab_path=vocab,
        layers=cfg["num_hidden_layers"],
        hidden=cfg["hidden_size"],
        heads=cfg["num_attention_heads"],
        intermediate=cfg["intermediate_size"],
        max_position=cfg["max_position_embeddings"],
    )


# ---------------------------------------------------------------- variants (in a subprocess)


def _add_labels(nlp) -> None:
    for label in NER_LABELS:
        nlp.get_pipe("ner").add_label(label)
    for label in EMOTIONS:
        nlp.get_pipe("textcat").add_label(label)
    nlp.initialize()


def build_a(model_dir: Path, overrides: Optional[Dict] = None):
    import spacy
    from thinc.api import Config

    config = Config().from_disk(
        ROOT / "configs" / "beto.cfg",
        overrides={"paths.transformer": str(model_dir), **(overrides or {})},
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    _add_labels(nlp)
    return nlp


def build_b(model_dir: Path):
    import spacy
    from spacy.cli.init_config import init_config

    config = init_config(lang="es", pipeline=["ner", "textcat"], optimize="accuracy", gpu=True)
    config["components"]["transformer"]["model"]["name"] = str(model_dir)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    _add_labels(nlp)
    return nlp


def run_spacy(nlp, texts: List[str], batch_size: int, rss: List[float]) -> None:
    for i, doc in enumerate(nlp.pipe(texts, batch_size=batch_size)):
        doc.ents, doc.cats  # noqa: B018 - the outputs users read
        if i % 500 == 0:
            rss.append(current_rss_mb())


def run_hf(model_dir: Path, batch_size: int):
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        pipeline,
    )

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    n_tags = 1 + 2 * len(NER_LABELS)
    tc = AutoModelForTokenClassification.from_pretrained(str(model_dir), num_labels=n_tags)
    sc = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), num_labels=len(EMOTIONS)
    )
    PROBE.attach(tc)
    PROBE.attach(sc)
    ner = pipeline("token-classification", model=tc, tokenizer=tok, aggregation_strategy="simple")
    clf = pipeline("text-classification", model=sc, tokenizer=tok, top_k=None, truncation=True)

    def run(texts: List[str], rss: List[float]) -> None:
        for i, _outputs in enumerate(
            zip(ner(texts, batch_size=batch_size), clf(texts, batch_size=batch_size))
        ):
            if i % 500 == 0:
                rss.append(current_rss_mb())

    return run


def run_encoder(model_dir: Path, max_items: int):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from spacy_beto.layers.grouping import length_groups

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    PROBE.attach(model)

    def run(texts: List[str], rss: List[float]) -> None:
        ids = tok(texts, truncation=True, max_length=512)["input_ids"]
        batches = length_groups([len(x) for x in ids], max_items=max_items)
        with torch.inference_mode():
            for batch in batches:
                enc = tok.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
                model(**enc)
                rss.append(current_rss_mb())

    return run


def profile_row(seconds: float, enc: Dict[str, float]) -> List[str]:
    """Where a variant's time went: inside the encoder's forward or around it."""
    real, padded = enc["real_pieces"], enc["padded_pieces"]
    outside = 1 - enc["encoder_seconds"] / seconds
    padding = 1 - real / max(padded, 1)
    return [f"{seconds:.1f}", f"{enc['encoder_seconds']:.1f}", f"{outside:.1%}",
            str(enc["calls"]), str(real), str(padded), f"{padding:.1%}"]  # fmt: skip


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fileh:
        pages = int(fileh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def build_runner(variant: str, model_dir: Path, args: Dict) -> Callable:
    """The function that runs one variant over a list of texts."""
    import torch

    torch.set_num_threads(args["threads"])
    torch.set_num_interop_threads(1)
    if variant in ("b", "q") or variant.startswith("a"):
        if variant == "b":
            nlp = build_b(model_dir)
        else:
            nlp = build_a(model_dir, CONFIG_OVERRIDES.get(variant))
        if variant == "q":
            from spacy_beto.quantize import quantize_pipeline

            quantize_pipeline(nlp)
        from spacy_beto._compat import torch_module

        trf = nlp.get_pipe("transformer")
        PROBE.attach(torch_module(trf.model.layers[0]))
        off = dict(LEVERS_OFF.get(variant, {}))
        batch_size = off.pop("pipe_batch_size", args["batch_size"])
        if off.pop("keep_trf_data", False):
            nlp.remove_pipe("doc_cleaner")  # doc._.trf_data stays on the docs
        for setting in ("inference_mode", "group_items"):
            if setting in off:
                setattr(trf, setting, off.pop(setting))
        trf.cfg.update(off)  # max_batch_items

        def run(batch: List[str], rss: List[float]) -> None:
            run_spacy(nlp, batch, batch_size, rss)

        return run
    if variant == "c":
        return run_hf(model_dir, args["hf_batch_size"])
    return run_encoder(model_dir, args["max_items"])


@app.command("variant", hidden=True)
def variant_cmd(variant: str, model_dir: Path, texts_path: Path, args_json: str) -> None:
    """Internal: serve one variant; stdin lines `warmup`, `chunk I N`, `done`."""
    args = json.loads(args_json)
    texts = json.loads(texts_path.read_text(encoding="utf8"))
    run = build_runner(variant, model_dir, args)
    rss: List[float] = []
    print("READY", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "warmup":
            run(texts[: args["warmup"]], [])
            rss.append(current_rss_mb())
            PROBE.take()
            reply: Dict = {}
        elif cmd[0] == "chunk":
            i, n = int(cmd[1]), int(cmd[2])
            chunk = texts[len(texts) * i // n : len(texts) * (i + 1) // n]
            start = time.perf_counter()
            run(chunk, rss)
            reply = {"seconds": time.perf_counter() - start, **PROBE.take()}
        else:
            reply = {
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_after_warmup_mb": rss[0] if rss else None,
                "rss_end_mb": current_rss_mb(),
            }
        print("RESULT " + json.dumps(reply), flush=True)
        if cmd[0] == "done":
            break


class Child:
    """A variant served in its own process (its own peak RSS)."""

    def __init__(self, variant: str, model: Path, texts_path: Path, args: Dict) -> None:
        cmd = [sys.executable, __file__, "variant", variant, str(model), str(texts_path)]
        self.variant = variant
        self.proc = subprocess.Popen(
            cmd + [json.dumps(args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.read("READY")

    def read(self, prefix: str) -> str:
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        msg.fail(f"variant {self.variant} failed (exit {self.proc.wait()})", exits=1)

    def ask(self, command: str) -> Dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.read("RESULT "))


# ---------------------------------------------------------------- the command


@app.command("run")
def main(
    model_dir: Optional[Path] = typer.Option(None, help="Encoder dir (default: BETO-shaped)"),
    shared_dir: Optional[Path] = typer.Option(None, help="../shared (data and BETO vocab)"),
    work_dir: Path = typer.Option(ROOT / "assets" / "speed", help="Cache for model and texts"),
    n_texts: int = typer.Option(2000, help="Number of texts"),
    threads: int = typer.Option(2, help="torch threads"),
    variants: str = typer.Option("a,b,c,d", help="Comma-separated variants (a,b,c,d,q)"),
    batch_size: int = typer.Option(256, help="nlp.pipe batch size (a, b, q)"),
    hf_batch_size: int = typer.Option(16, help="HF pipeline batch size"),
    max_items: int = typer.Option(4096, help="Padded word pieces per encoder batch (d)"),
    warmup: int = typer.Option(32, help="Texts run before timing"),
    chunks: int = typer.Option(8, help="Interleave the variants over this many chunks"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write results here"),
) -> None:
    """Measure words/s and peak RSS of each variant in its own subprocess; print ratios."""
    shared = shared_dir or (DEFAULT_SHARED if DEFAULT_SHARED.exists() else None)
    work_dir.mkdir(parents=True, exist_ok=True)
    model = ensure_model(model_dir=model_dir, shared=shared, work_dir=work_dir)
    texts = load_texts(shared=shared, n_texts=n_texts)
    texts_path = work_dir / f"texts-{n_texts}.json"
    texts_path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf8")
    n_words = sum(len(t.split()) for t in texts)
    msg.info(f"{len(texts)} texts, {n_words} words; model {model}; {threads} threads")
    args = {
        "threads": threads,
        "batch_size": batch_size,
        "hf_batch_size": hf_batch_size,
        "max_items": max_items,
        "warmup": warmup,
    }
    names = variants.split(",")
    children = {}
    for variant in names:
        msg.text(f"loading {variant}: {NAMES[variant]}")
        children[variant] = Child(variant, model, texts_path, args)
        children[variant].ask("warmup")
    seconds = {v: 0.0 for v in names}
    probes: Dict[str, Dict[str, float]] = {v: {} for v in names}
    for i in range(chunks):  # interleaved: load changes on a shared machine hit all variants
        order = names[i % len(names) :] + names[: i % len(names)]
        for variant in order:
            reply = children[variant].ask(f"chunk {i} {chunks}")
            seconds[variant] += reply.pop("seconds")
            for key, value in reply.items():
                probes[variant][key] = probes[variant].get(key, 0) + value
        msg.text(f"chunk {i + 1}/{chunks}: " + ", ".join(f"{v} {seconds[v]:.0f}s" for v in names))
    results: Dict[str, Dict] = {}
    for variant in names:
        results[variant] = {
            "seconds": seconds[variant],
            "words_per_s": n_words / seconds[variant],
            "encoder": probes[variant],
            **children[variant].ask("done"),
        }
        children[variant].proc.wait()
    wps = {k: round(v["words_per_s"], 1) for k, v in results.items()}
    ratios = {}
    for other in ("d", "b", "c"):
        if "a" in wps and other in wps:
            ratios[f"a_over_{other}"] = round(wps["a"] / wps[other], 3)
    extra = {}
    if "q" in wps and "a" in wps:
        extra["q_over_a"] = round(wps["q"] / wps["a"], 3)
    rss = {k: round(v["peak_rss_mb"], 1) for k, v in results.items()}
    if "a" in rss and "d" in rss:
        extra["rss_a_over_d"] = round(rss["a"] / rss["d"], 3)
    rows = [(k, NAMES[k], f"{wps[k]:.0f}", f"{rss[k]:.0f}") for k in results]
    msg.table(rows, header=("", "variant", "words/s", "peak RSS MB"), divider=True)
    msg.table(list({**ratios, **extra}.items()), header=("ratio", "value"), divider=True)
    msg.table(
        [(k, *profile_row(v["seconds"], v["encoder"])) for k, v in results.items()],
        header=("", "s", "encoder s", "outside encoder", "calls", "pieces", "padded", "padding"),
        divider=True,
    )
    if json_path:
        out = {
            "words_per_s": wps,
            "ratios": ratios,
            "peak_rss_mb": rss,
            "other_ratios": extra,
            "details": results,
            "setup": {"n_texts": len(texts), "words": n_words, "chunks": chunks, **args},
        }
        json_path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf8")
        msg.good(f"Wrote {json_path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "variant":
        app()
    else:
        sys.argv.insert(1, "run")
        app()
