"""Inference speed and memory of es_beto_trf against the alternatives, in one command.

    python benchmarks/speed.py --json benchmarks/speed.json
    python benchmarks/speed.py --overhead --vocab ../shared/beto/cased/vocab.txt --repeats 2
    python benchmarks/speed.py --overhead --sweep "a=64,256,1024;b=64,256,1024;c=1,4,16,64"
    python benchmarks/speed.py --gpu-id 0 --variants a,a+mp,b,b+mp,c,d,d+mp

Same texts, same weights (by default a BETO-shaped BERT-base with random weights built from
BETO's real vocabulary in ../shared/beto/cased; `--overhead`: a 1-layer, 32-wide BERT, so the
encoder costs ~nothing and what is left is the pipeline around it), `--threads` torch threads,
CPU or `--gpu-id N`. Variants, each measured in its own subprocess (so peak RSS is its own):

  a  es_beto_trf: beto_transformer + beto_token_ner + beto_textcat (configs/beto.cfg) via nlp.pipe
  b  spaCy's quickstart (`spacy init config -l es -p ner,textcat --optimize accuracy --gpu`)
  c  Hugging Face token-classification + text-classification pipelines (two forward passes)
  d  the limit: bare encoder forward, each text once, in length-sorted batches (the same
     padding-minimal groups as (a), spacy_beto.layers.grouping) under torch.inference_mode()
  t  tokenize only: BETO's fast (Rust) WordPiece tokenizer over the texts, nothing else
  ts tokenize only: spaCy's Spanish tokenizer (`nlp.tokenizer.pipe`)
  q  (a) with the encoder's Linear layers dynamically quantized to int8 (`--variants` to add)
  atb (a) with the transition-based beto_ner instead of beto_token_ner (`--variants`)

A variant key is `NAME[+mp][@BATCH]`: `+mp` is the reduced-precision variant (a, b:
`mixed_precision = true`, spacy-transformers' fp16 autocast; c: fp16 weights; d: fp16 autocast;
GPU only), `@BATCH` its batch size (a, b, q, ts: `nlp.pipe` batch_size; c: the HF pipelines'
batch_size; d: padded word pieces per encoder call; t: texts per tokenizer call). `--sweep` runs
each variant at several batch sizes and reports every one and the best; ratios are taken at each
variant's best measured setting. `--best-from` reuses the best batch sizes of an earlier sweep.
"""

import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

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
    "ap": "(a), prefetch on (next batch encoded in a background thread)",
    "an": "(a), prefetch off",
    "agc": "(a), Python's GC thresholds left alone during nlp.pipe (gc_threshold = 0)",
    "aup": "(a), word pieces from upstream's huggingface_tokenize (fast_wordpieces off)",
    "aupgc": "(a) without the tokenization and GC cuts (upstream tokenization, gc_threshold = 0)",
    "abf": "(a), encoder in bf16 (precision = bf16, weights cast once)",
    "ah": "(a), encoder in fp16 (precision = fp16, weights cast once)",
    "a-noscore": "(a), entity scores off (beto_token_ner entity_scores = false)",
    "atb": "(a) with the transition-based beto_ner instead of beto_token_ner (scores off)",
    "atbs": "(atb), entity scores on (beto_ner entity_scores = true, greedy replay)",
    "acpu": "(a) with the CPU defaults (max_batch_items 4,096, length groups 4,096), no prefetch",
    "b": "spaCy quickstart trf",
    "bgc": "(b) with the GC threshold (a) uses (10,000), set for the process",
    "c": "HF pipelines (tok+seq cls)",
    "d": "bare encoder (limit)",
    "t": "tokenize only: BETO fast tokenizer",
    "ts": "tokenize only: spaCy tokenizer",
    "q": "es_beto_trf int8",
}
OVERHEAD_VARIANTS = "a,b,c,d,t,ts"
# The tiny encoder of --overhead: the encoder's own cost is ~nothing next to the pipeline's.
TINY = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 128}

# Variants of (a) with inference levers switched off, to measure what each one pays.
LEVERS_OFF = {
    "a0": {"inference_mode": False, "keep_trf_data": True, "group_items": 0},
    "a1": {"group_items": 0},
    "a-inf": {"inference_mode": False},
    "a16k": {"max_batch_items": 16384},
    "a64": {"pipe_batch_size": 64},
    "a-keep": {"keep_trf_data": True},
    "ap": {"prefetch": True},
    "an": {"prefetch": False},
    "agc": {"gc_threshold": 0},
    "aupgc": {"gc_threshold": 0},
    "abf": {"precision": "bf16"},
    "ah": {"precision": "fp16"},
    "acpu": {"max_batch_items": 4096, "group_items": 4096, "prefetch": False},
}
# Variants of (a) built from a changed config: they change outputs, so they are a choice made
# before training, measured here for what they would pay.
CONFIG_OVERRIDES = {
    "aw256": {
        "components.transformer.model.get_spans.window": 256,
        "components.transformer.model.get_spans.stride": 224,
    },
    "a-noscore": {"components.ner.entity_scores": False},
    # The ner component swapped: the factory's default model (spaCy's transition-based parser
    # on the listener; configs/beto.cfg gives the ner no model of its own).
    "atb": {"components.ner.factory": "beto_ner"},
    "atbs": {"components.ner.factory": "beto_ner", "components.ner.entity_scores": True},
}
MIXED = "+mp"
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def parse_key(key: str) -> Tuple[str, bool, Optional[int]]:
    """`NAME[+mp][@BATCH]` -> (NAME, reduced precision, batch size or None)."""
    name, _, batch = key.partition("@")
    mixed = name.endswith(MIXED)
    base = name[: -len(MIXED)] if mixed else name
    if base not in NAMES:
        msg.fail(f"Unknown variant {key!r}: use one of {', '.join(NAMES)}", exits=1)
    if batch and not batch.isdigit():
        msg.fail(f"Variant {key!r}: the batch size after '@' must be a number", exits=1)
    return base, mixed, int(batch) if batch else None


def child_name(key: str) -> str:
    """The subprocess that serves a key: one per variant and precision, any batch size."""
    return key.partition("@")[0]


def parse_sweep(spec: str) -> Dict[str, List[int]]:
    """`a=64,256;c=1,4,16` -> {"a": [64, 256], "c": [1, 4, 16]}."""
    out: Dict[str, List[int]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, eq, sizes = part.partition("=")
        if not eq or not sizes:
            msg.fail(f"--sweep: {part!r} is not NAME=SIZE,SIZE,... (e.g. 'c=1,4,16,64')", exits=1)
        try:
            out[name.strip()] = [int(x) for x in sizes.split(",")]
        except ValueError:
            msg.fail(f"--sweep: batch sizes of {name!r} must be numbers, got {sizes!r}", exits=1)
    return out


class EncoderProbe:
    """Forward hooks on the encoder: calls, seconds inside it, real and padded word pieces.

    On a GPU the seconds are those of the launching CPU thread unless `sync` is set (a
    synchronize around each call, which removes any CPU/GPU overlap: use for diagnosis only)."""

    def __init__(self) -> None:
        self.calls, self.seconds, self.real, self.padded = 0, 0.0, 0, 0
        self._start = 0.0
        self._masks: List = []
        self.sync: Optional[Callable[[], None]] = None

    def attach(self, module) -> None:
        module.register_forward_pre_hook(self._pre, with_kwargs=True)
        module.register_forward_hook(self._post)

    def _pre(self, module, args, kwargs) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        self.calls += 1
        self.padded += int(ids.numel())
        # Summed on the device and read in take(): int() here would synchronize every call.
        self._masks.append(mask.sum() if mask is not None else int(ids.numel()))
        if self.sync:
            self.sync()
        self._start = time.perf_counter()

    def _post(self, module, args, output) -> None:
        if self.sync:
            self.sync()
        self.seconds += time.perf_counter() - self._start

    def take(self) -> Dict:
        """The counts since the last call."""
        self.real += sum(int(m) for m in self._masks)
        self._masks = []
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


def read_texts(path: Path) -> List[str]:
    """Texts saved by `--texts-out` (a JSON list of strings)."""
    try:
        texts = json.loads(path.read_text(encoding="utf8"))
    except (OSError, ValueError) as err:
        msg.fail(f"--texts {path}: cannot read a JSON list of texts ({err})", exits=1)
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        msg.fail(f"--texts {path}: expected a JSON list of strings (see --texts-out)", exits=1)
    return texts


def ensure_model(
    *, model_dir: Optional[Path], shared: Optional[Path], work_dir: Path, beto_dir: Optional[Path]
) -> Path:
    """The encoder to benchmark: --model-dir, or a random BERT-base built from BETO's vocab and
    config (`--beto-dir`, default ../shared/beto/cased)."""
    if model_dir is not None:
        return model_dir
    out = work_dir / "beto-random"
    if (out / "config.json").exists():
        return out
    if beto_dir is None and shared is not None:
        beto_dir = shared / "beto" / "cased"
    vocab = beto_dir / "vocab.txt" if beto_dir else None
    if vocab is None or not vocab.exists() or not (vocab.parent / "config.json").exists():
        msg.fail("Give --model-dir, or --beto-dir with BETO's vocab.txt and config.json", exits=1)
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


def ensure_tiny_model(*, vocab: Optional[Path], work_dir: Path) -> Path:
    """The --overhead encoder: 1 layer, hidden 32, with `vocab` (e.g. BETO's vocab.txt) or a
    WordPiece vocabulary trained on the project corpus (as `build-mini`)."""
    from spacy_beto.mini import build_mini

    out = work_dir / ("tiny-" + ("vocab-" + vocab.parent.name if vocab else "corpus-vocab"))
    if (out / "config.json").exists() and (out / "source.txt").exists():
        if (out / "source.txt").read_text() == str(vocab):
            return out
    if vocab is not None and not vocab.is_file():
        msg.fail(f"--vocab {vocab}: not found (BETO's: ../shared/beto/cased/vocab.txt)", exits=1)
    texts = None if vocab else [ROOT / "corpus" / t / "train.jsonl" for t in ("ner", "emotion")]
    msg.info(f"Building a tiny BERT ({TINY}) in {out}")
    build_mini(out, texts=texts, vocab_path=vocab, max_position=512, seed=0, **TINY)
    (out / "source.txt").write_text(str(vocab))
    return out


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

    # max_batch_items null: by device (4,096 on CPU as in the shipped config, 16,384 on GPU).
    config = Config().from_disk(
        ROOT / "configs" / "beto.cfg",
        overrides={
            "paths.transformer": str(model_dir),
            "components.transformer.max_batch_items": None,
            **(overrides or {}),
        },
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    _add_labels(nlp)
    return nlp


def apply_levers(nlp, base: str) -> None:
    """Set variant `base`'s LEVERS_OFF on (a)'s transformer (pipe_batch_size: the caller's)."""
    trf = nlp.get_pipe("transformer")
    off = {k: v for k, v in LEVERS_OFF.get(base, {}).items() if k != "pipe_batch_size"}
    if off.pop("keep_trf_data", False):
        nlp.remove_pipe("doc_cleaner")  # doc._.trf_data stays on the docs
    for setting in ("inference_mode", "group_items", "prefetch", "precision", "gc_threshold"):
        if setting in off:
            setattr(trf, setting, off.pop(setting))
    trf.cfg.update(off)  # max_batch_items


def build_b(model_dir: Path, mixed: bool = False):
    import spacy
    from spacy.cli.init_config import init_config

    config = init_config(lang="es", pipeline=["ner", "textcat"], optimize="accuracy", gpu=True)
    config["components"]["transformer"]["model"]["name"] = str(model_dir)
    config["components"]["transformer"]["model"]["mixed_precision"] = mixed
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    _add_labels(nlp)
    return nlp


def run_spacy(nlp, texts: List[str], batch_size: int, rss: List[float]) -> None:
    for i, doc in enumerate(nlp.pipe(texts, batch_size=batch_size)):
        doc.ents, doc.cats  # noqa: B018 - the outputs users read
        if i % 500 == 0:
            rss.append(current_rss_mb())


def run_hf(model_dir: Path, *, gpu_id: int, mixed: bool) -> Callable:
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        pipeline,
    )

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    n_tags = 1 + 2 * len(NER_LABELS)
    dtype = {"torch_dtype": torch.float16} if mixed else {}
    tc = AutoModelForTokenClassification.from_pretrained(str(model_dir), num_labels=n_tags, **dtype)
    sc = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), num_labels=len(EMOTIONS), **dtype
    )
    PROBE.attach(tc)
    PROBE.attach(sc)
    device = {"device": gpu_id} if gpu_id >= 0 else {}
    ner = pipeline(
        "token-classification", model=tc, tokenizer=tok, aggregation_strategy="simple", **device
    )
    clf = pipeline(
        "text-classification", model=sc, tokenizer=tok, top_k=None, truncation=True, **device
    )

    def run(texts: List[str], rss: List[float], batch_size: int) -> None:
        for i, _outputs in enumerate(
            zip(ner(texts, batch_size=batch_size), clf(texts, batch_size=batch_size))
        ):
            if i % 500 == 0:
                rss.append(current_rss_mb())

    return run


def run_encoder(model_dir: Path, *, gpu_id: int, mixed: bool) -> Callable:
    import contextlib

    import torch
    from transformers import AutoModel, AutoTokenizer

    from spacy_beto.layers.grouping import length_groups

    device = torch.device(f"cuda:{gpu_id}" if gpu_id >= 0 else "cpu")
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval().to(device)
    PROBE.attach(model)

    def run(texts: List[str], rss: List[float], max_items: int) -> None:
        ids = tok(texts, truncation=True, max_length=512)["input_ids"]
        batches = length_groups([len(x) for x in ids], max_items=max_items)
        autocast = torch.autocast("cuda") if mixed else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            for batch in batches:
                enc = tok.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
                model(**{k: v.to(device, non_blocking=True) for k, v in enc.items()})
                rss.append(current_rss_mb())

    return run


def run_tokenizer(model_dir: Path) -> Callable:
    """Word pieces of every text, nothing else (BETO's fast tokenizer)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))

    def run(texts: List[str], rss: List[float], batch_size: int) -> None:
        for start in range(0, len(texts), batch_size):
            tok(texts[start : start + batch_size])["input_ids"]  # noqa: B018
        rss.append(current_rss_mb())

    return run


def run_spacy_tokenizer() -> Callable:
    import spacy

    nlp = spacy.blank("es")

    def run(texts: List[str], rss: List[float], batch_size: int) -> None:
        for _doc in nlp.tokenizer.pipe(texts, batch_size=batch_size):
            pass
        rss.append(current_rss_mb())

    return run


def profile_row(seconds: float, enc: Dict[str, float]) -> List[str]:
    """Where a variant's time went: inside the encoder's forward or around it."""
    real, padded = enc.get("real_pieces", 0), enc.get("padded_pieces", 0)
    in_encoder = enc.get("encoder_seconds", 0.0)
    outside = 1 - in_encoder / seconds
    padding = 1 - real / max(padded, 1)
    return [f"{seconds:.2f}", f"{in_encoder:.2f}", f"{outside:.1%}",
            str(enc.get("calls", 0)), str(real), str(padded), f"{padding:.1%}"]  # fmt: skip


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fileh:
        pages = int(fileh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


DEFAULT_BATCH = {"c": "hf_batch_size", "d": "max_items", "t": "tok_batch_size"}


def default_batch_size(base: str, args: Dict) -> int:
    """The batch size a key without `@BATCH` runs at."""
    if base in LEVERS_OFF and "pipe_batch_size" in LEVERS_OFF[base]:
        return LEVERS_OFF[base]["pipe_batch_size"]
    return args[DEFAULT_BATCH.get(base, "batch_size")]


def use_gpu(gpu_id: int) -> None:
    """Put spaCy/thinc (and torch's default device) on GPU `gpu_id`."""
    import spacy
    import torch

    spacy.require_gpu(gpu_id)
    torch.cuda.set_device(gpu_id)
    PROBE.sync = torch.cuda.synchronize if os.environ.get("SPEED_PROBE_SYNC") else None


def is_spacy_variant(base: str) -> bool:
    """Whether variant `base` is a spaCy pipeline ((a) and its levers, (b), (q))."""
    return base in ("b", "bgc", "q") or base.startswith("a")


def build_pipeline(base: str, model_dir: Path, *, mixed: bool = False):
    """The spaCy pipeline of variant `base`, with its levers and process settings applied (in
    this process: `bgc` raises the GC threshold, `aup`/`aupgc` use upstream's tokenization)."""
    if base in ("b", "bgc"):
        nlp = build_b(model_dir, mixed)
        if base == "bgc":
            import gc

            from spacy_beto.components.transformer import GC_THRESHOLD

            gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        return nlp
    overrides = dict(CONFIG_OVERRIDES.get(base, {}))
    if mixed:
        overrides["components.transformer.model.mixed_precision"] = True
    nlp = build_a(model_dir, overrides)
    if base == "q":
        from spacy_beto.quantize import quantize_pipeline

        quantize_pipeline(nlp)
    if base in ("aup", "aupgc"):
        import spacy_beto.layers.alignment as alignment

        alignment.fast_wordpieces = lambda tokenizer, texts: None  # type: ignore
    apply_levers(nlp, base)
    return nlp


def build_runner(name: str, model_dir: Path, args: Dict) -> Callable:
    """The function `run(texts, rss, batch_size)` of one variant (`NAME[+mp]`)."""
    import torch

    base, mixed, _ = parse_key(name)
    gpu_id = args["gpu_id"]
    if mixed and gpu_id < 0:
        msg.fail(f"{name}: reduced precision ({MIXED}) is measured on a GPU (--gpu-id)", exits=1)
    torch.set_num_threads(args["threads"])
    torch.set_num_interop_threads(1)
    if gpu_id >= 0 and base not in ("t", "ts"):
        use_gpu(gpu_id)
    if is_spacy_variant(base):
        nlp = build_pipeline(base, model_dir, mixed=mixed)
        from spacy_beto._compat import torch_module

        PROBE.attach(torch_module(nlp.get_pipe("transformer").model.layers[0]))

        def run(batch: List[str], rss: List[float], batch_size: int) -> None:
            run_spacy(nlp, batch, batch_size, rss)

        return run
    if base == "c":
        return run_hf(model_dir, gpu_id=gpu_id, mixed=mixed)
    if base == "t":
        return run_tokenizer(model_dir)
    if base == "ts":
        return run_spacy_tokenizer()
    return run_encoder(model_dir, gpu_id=gpu_id, mixed=mixed)


def _synchronize(gpu_id: int) -> None:
    if gpu_id >= 0:
        import torch

        torch.cuda.synchronize()


@app.command("variant", hidden=True)
def variant_cmd(variant: str, model_dir: Path, texts_path: Path, args_json: str) -> None:
    """Internal: serve one variant; stdin lines `warmup BATCH`, `chunk I N BATCH`, `done`."""
    args = json.loads(args_json)
    texts = json.loads(texts_path.read_text(encoding="utf8"))
    run = build_runner(variant, model_dir, args)
    gpu_id = args["gpu_id"]
    rss: List[float] = []
    print("READY", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "warmup":
            run(texts[: args["warmup"]], [], int(cmd[1]))
            _synchronize(gpu_id)
            rss.append(current_rss_mb())
            PROBE.take()
            reply: Dict = {}
        elif cmd[0] == "chunk":
            i, n, batch_size = int(cmd[1]), int(cmd[2]), int(cmd[3])
            chunk = texts[len(texts) * i // n : len(texts) * (i + 1) // n]
            _synchronize(gpu_id)
            start = time.perf_counter()
            run(chunk, rss, batch_size)
            _synchronize(gpu_id)
            reply = {"seconds": time.perf_counter() - start, **PROBE.take()}
        else:
            reply = {
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_after_warmup_mb": rss[0] if rss else None,
                "rss_end_mb": current_rss_mb(),
            }
            if gpu_id >= 0:
                import torch

                reply["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
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

    def wait_ready(self) -> None:
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


def expand_keys(
    variants: str, sweep: Dict[str, List[int]], best: Dict[str, int], args: Dict
) -> List[str]:
    """Every key to measure, each with its batch size (`NAME[+mp]@BATCH`)."""
    keys: List[str] = []
    names = [v.strip() for v in variants.split(",") if v.strip()]
    for name in names + [n for n in sweep if n not in names]:
        base, _, batch = parse_key(name)
        if name in sweep:
            sizes = sweep[name]
        elif batch is not None:
            sizes = [batch]
        elif child_name(name) in best:
            sizes = [best[child_name(name)]]
        elif base in best:  # e.g. a+mp at a's best batch size
            sizes = [best[base]]
        else:
            sizes = [default_batch_size(base, args)]
        keys.extend(f"{child_name(name)}@{size}" for size in sizes)
    return list(dict.fromkeys(keys))


def best_per_variant(wps: Dict[str, float]) -> Dict[str, str]:
    """For each `NAME[+mp]`, its fastest key."""
    best: Dict[str, str] = {}
    for key, value in wps.items():
        name = child_name(key)
        if name not in best or value > wps[best[name]]:
            best[name] = key
    return best


def load_avg() -> List[float]:
    return [round(x, 2) for x in os.getloadavg()]


def gpu_name(gpu_id: int) -> Optional[str]:
    if gpu_id < 0:
        return None
    import torch

    return torch.cuda.get_device_name(gpu_id)


def versions() -> Dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("torch", "transformers", "tokenizers", "spacy", "spacy-transformers", "thinc"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


@app.command("run")
def main(
    model_dir: Optional[Path] = typer.Option(None, help="Encoder dir (default: BETO-shaped)"),
    shared_dir: Optional[Path] = typer.Option(None, help="../shared (data and BETO vocab)"),
    work_dir: Path = typer.Option(ROOT / "assets" / "speed", help="Cache for model and texts"),
    n_texts: int = typer.Option(2000, help="Number of texts"),
    texts: Optional[Path] = typer.Option(None, help="Read the texts (JSON list) from here"),
    limit: int = typer.Option(0, help="Use only the first N texts (0: all)"),
    beto_dir: Optional[Path] = typer.Option(None, help="BETO's vocab.txt + config.json dir"),
    texts_out: Optional[Path] = typer.Option(None, help="Write the texts (JSON) here and exit"),
    overhead: bool = typer.Option(False, help="Tiny encoder (1 layer, hidden 32): CPU overhead"),
    vocab: Optional[Path] = typer.Option(None, help="--overhead: vocab.txt (e.g. BETO's)"),
    threads: int = typer.Option(2, help="torch threads"),
    gpu_id: int = typer.Option(-1, help="GPU to run on (-1: CPU)"),
    variants: Optional[str] = typer.Option(None, help="Comma-separated keys NAME[+mp][@BATCH]"),
    batch_size: int = typer.Option(256, help="nlp.pipe batch size (a, b, q, ts)"),
    hf_batch_size: int = typer.Option(16, help="HF pipeline batch size"),
    max_items: int = typer.Option(4096, help="Padded word pieces per encoder batch (d)"),
    tok_batch_size: int = typer.Option(1000, help="Texts per tokenizer call (t)"),
    sweep: str = typer.Option("", help="Batch sizes to sweep: 'a=64,256;c=1,4,16,64'"),
    best_from: Optional[Path] = typer.Option(None, help="Best batch sizes of an earlier sweep"),
    repeats: int = typer.Option(1, help="Timed passes over all texts; best one reported"),
    max_seconds: float = typer.Option(0, help="Start no round that would end after this"),
    warmup: int = typer.Option(32, help="Texts run before timing"),
    chunks: int = typer.Option(8, help="Interleave the variants over this many chunks"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write results here"),
) -> None:
    """Measure words/s and peak RSS of each variant in its own subprocess; print ratios."""
    shared = shared_dir or (DEFAULT_SHARED if DEFAULT_SHARED.exists() else None)
    work_dir.mkdir(parents=True, exist_ok=True)
    text_list = read_texts(texts) if texts else load_texts(shared=shared, n_texts=n_texts)
    text_list = text_list[:limit] if limit else text_list
    if texts_out:
        texts_out.write_text(json.dumps(text_list, ensure_ascii=False), encoding="utf8")
        msg.good(f"Wrote {len(text_list)} texts to {texts_out}")
        return
    if overhead:
        model = model_dir or ensure_tiny_model(vocab=vocab, work_dir=work_dir)
    else:
        model = ensure_model(
            model_dir=model_dir, shared=shared, work_dir=work_dir, beto_dir=beto_dir
        )
    texts_path = work_dir / f"texts-{len(text_list)}.json"
    texts_path.write_text(json.dumps(text_list, ensure_ascii=False), encoding="utf8")
    n_words = sum(len(t.split()) for t in text_list)
    device = gpu_name(gpu_id) or "CPU"
    msg.info(f"{len(text_list)} texts, {n_words} words; model {model}; {threads} threads; {device}")
    args = {
        "threads": threads,
        "gpu_id": gpu_id,
        "batch_size": batch_size,
        "hf_batch_size": hf_batch_size,
        "max_items": max_items,
        "tok_batch_size": tok_batch_size,
        "warmup": warmup,
    }
    best_sizes: Dict[str, int] = {}
    if best_from:
        best_sizes = json.loads(best_from.read_text(encoding="utf8")).get("best_batch_size", {})
    default_variants = OVERHEAD_VARIANTS if overhead else "a,b,c,d"
    wanted = default_variants if variants is None else variants
    keys = expand_keys(wanted, parse_sweep(sweep), best_sizes, args)
    children: Dict[str, Child] = {}
    load = {"start": load_avg()}
    started = time.perf_counter()
    for key in keys:  # all variants load side by side
        name = child_name(key)
        if name not in children:
            msg.text(f"loading {name}: {NAMES[parse_key(name)[0]]}")
            children[name] = Child(name, model, texts_path, args)
    for child in children.values():
        child.wait_ready()
    for key in keys:
        children[child_name(key)].ask(f"warmup {parse_key(key)[2]}")
    msg.text(f"loaded and warmed up in {time.perf_counter() - started:.0f} s")
    rounds: Dict[str, List[float]] = {k: [] for k in keys}
    probes: Dict[str, Dict[str, float]] = {k: {} for k in keys}
    setup = {
        "n_texts": len(text_list),
        "words": n_words,
        "chunks": chunks,
        "repeats": repeats,
        "limit": limit,
        "overhead": overhead,
        "model": str(model),
        "device": device,
        "versions": versions(),
        "cpu_count": os.cpu_count(),
        **args,
    }
    started = time.perf_counter()
    for r in range(repeats):
        elapsed = time.perf_counter() - started
        if r and max_seconds and elapsed * (r + 1) / r > max_seconds:
            msg.warn(f"--max-seconds {max_seconds:.0f}: stopping after {r} round(s)")
            break
        seconds = {k: 0.0 for k in keys}
        for i in range(chunks):  # interleaved: load changes on a shared machine hit all variants
            order = keys[i % len(keys) :] + keys[: i % len(keys)]
            for key in order:
                size = parse_key(key)[2]
                reply = children[child_name(key)].ask(f"chunk {i} {chunks} {size}")
                seconds[key] += reply.pop("seconds")
                if r == 0:
                    for name, value in reply.items():
                        probes[key][name] = probes[key].get(name, 0) + value
            done = ", ".join(f"{k} {seconds[k]:.1f}s" for k in keys)
            msg.text(f"round {r + 1}/{repeats} chunk {i + 1}/{chunks}: {done}")
        for key in keys:
            rounds[key].append(seconds[key])
        load[f"after_round_{r + 1}"] = load_avg()
        result = summarize(keys, rounds, probes, n_words, setup, load)
        if json_path:  # after every round: a run stopped by a time limit keeps what it measured
            json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    for name, child in children.items():
        final = child.ask("done")
        for key in keys:
            if child_name(key) == name:
                result["details"][key].update(final)
        child.proc.wait()
    report(result)
    if json_path:
        json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
        msg.good(f"Wrote {json_path}")


def summarize(
    keys: List[str],
    rounds: Dict[str, List[float]],
    probes: Dict[str, Dict[str, float]],
    n_words: int,
    setup: Dict,
    load: Dict[str, List[float]],
) -> Dict:
    """Words/s per key (best round), the best key per variant, ratios at the best settings."""
    wps = {k: round(n_words / min(rounds[k]), 1) for k in keys}
    best = best_per_variant(wps)
    best_wps = {name: wps[key] for name, key in best.items()}
    ratios = {}
    for one in [n for n in best_wps if parse_key(n)[0].startswith("a")]:
        for other in best_wps:
            if not parse_key(other)[0].startswith("a"):
                ratios[f"{one}_over_{other}"] = round(best_wps[one] / best_wps[other], 3)
    for name in best_wps:
        base = child_name(name)[: -len(MIXED)] if name.endswith(MIXED) else None
        if base and base in best_wps:
            ratios[f"{name}_over_{base}"] = round(best_wps[name] / best_wps[base], 3)
    if "q" in best_wps and "a" in best_wps:
        ratios["q_over_a"] = round(best_wps["q"] / best_wps["a"], 3)
    details = {
        k: {
            "seconds_per_round": [round(s, 3) for s in rounds[k]],
            "seconds": min(rounds[k]),
            "first_round_seconds": rounds[k][0],
            "words_per_s_per_round": [round(n_words / s, 1) for s in rounds[k]],
            "encoder": probes[k],
        }
        for k in keys
    }
    return {
        "words_per_s": wps,
        "best": best,
        "best_words_per_s": best_wps,
        "best_batch_size": {name: parse_key(key)[2] for name, key in best.items()},
        "ratios_at_best": ratios,
        "load_avg": load,
        "details": details,
        "setup": setup,
    }


def report(result: Dict) -> None:
    wps, details = result["words_per_s"], result["details"]
    rows = []
    for key in wps:
        rss = details[key].get("peak_rss_mb", 0)
        per_round = "/".join(f"{w:.0f}" for w in details[key]["words_per_s_per_round"])
        mark = "*" if key in result["best"].values() else ""
        base = parse_key(key)[0]
        rows.append((key + mark, NAMES[base], f"{wps[key]:.0f}", per_round, f"{rss:.0f}"))
    header = ("key (* = best)", "variant", "words/s", "per round", "peak RSS MB")
    msg.table(rows, header=header, divider=True)
    msg.table(list(result["ratios_at_best"].items()), header=("ratio", "value"), divider=True)
    msg.text("Encoder probe (first round):")
    msg.table(
        [(k, *profile_row(v["first_round_seconds"], v["encoder"])) for k, v in details.items()],
        header=("", "s", "encoder s", "outside encoder", "calls", "pieces", "padded", "padding"),
        divider=True,
    )
    msg.text(f"load average: {result['load_avg']}; device: {result['setup']['device']}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "variant":
        app()
    else:
        sys.argv.insert(1, "run")
        app()
