"""Masked-language-model pretraining of a BERT encoder, with checkpoints and exact resume.

The model is a `BertForPreTraining` (encoder + MLM head + NSP head). Loss:
L = L_MLM + nsp_weight * L_NSP. The output directory is a Hugging Face model directory:
`AutoModel.from_pretrained` (and so `beto_transformer`) reads its encoder weights, and
`pretrain --init` continues from it.

A checkpoint (OUTPUT/checkpoints/step-N) holds the model, optimizer, scheduler, torch RNG
state and data position; `resume=True` continues from the newest one exactly where it
stopped. Ctrl-C between updates and errors in reading the data write a checkpoint first.
"""

import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ..errors import BetoConfigError
from .baseline import unigram_perplexity
from .data import CHUNK_LINES, MAX_LINE_BYTES, Position, PretrainingData

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
METRICS = "pretrain-metrics.json"
# Settings that shape the data stream or the optimisation: a resumed run must keep them.
RESUME_KEYS = (
    "max_steps",
    "batch_size",
    "lr",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "nsp_weight",
    "max_length",
    "seed",
    "word_rate",
    "chunk_lines",
    "max_line_bytes",
    "pack",
    "schedule",
)
SCHEDULES = ("linear", "cosine")


@dataclass
class PretrainConfig:
    """Pretraining settings; see `python -m spacy_beto pretrain --help`."""

    max_steps: int = 10_000
    batch_size: int = 32
    lr: float = 1e-4
    warmup_steps: Optional[int] = None  # default: 10 % of max_steps
    schedule: str = "linear"  # decay after warmup: "linear" or "cosine" (to 0 at max_steps)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    nsp_weight: float = 0.0
    max_length: int = 128
    seed: int = 0
    word_rate: float = 0.15
    chunk_lines: int = CHUNK_LINES
    max_line_bytes: int = MAX_LINE_BYTES
    pack: bool = True  # full max_length-piece sequences of running text (see data.py)
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    eval_every: int = 1000
    log_every: int = 50
    dev_max_lines: int = 2000
    max_minutes: Optional[float] = None
    device: str = "cpu"
    bf16: Optional[bool] = None  # bfloat16 autocast; None: on for a CUDA GPU that supports it
    baseline_max_lines: int = 200_000  # training lines counted for the unigram baseline

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "checkpoint_every", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise BetoConfigError(f"{name} must be a positive integer.")
        if self.lr <= 0:
            raise BetoConfigError(f"lr must be positive, got {self.lr}.")
        if self.nsp_weight < 0:
            raise BetoConfigError(f"nsp_weight must be >= 0, got {self.nsp_weight}.")
        if not 0 < self.word_rate < 1:
            raise BetoConfigError(f"word_rate must be in (0, 1), got {self.word_rate}.")
        if self.schedule not in SCHEDULES:
            raise BetoConfigError(
                f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}."
            )
        if self.warmup_steps is None:
            self.warmup_steps = self.max_steps // 10


@dataclass
class PretrainResult:
    """What a run produced: the model directory, steps done and the dev curve."""

    output: Path
    steps: int
    curve: List[Dict[str, float]] = field(default_factory=list)
    stats: Dict[str, int] = field(default_factory=dict)


def load_model(*, init: Optional[str], config_dir: Optional[str], seed: int) -> Tuple[Any, Any]:
    """(BertForPreTraining, fast tokenizer) from weights (`init`) or a config (`config_dir`).

    `init` is a model directory or hub name (continued pretraining; missing MLM/NSP heads are
    initialised randomly); `config_dir` is a directory with config.json and a tokenizer, e.g.
    from `build-mini`, whose architecture is trained from scratch with random weights.
    """
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertForPreTraining

    if (init is None) == (config_dir is None):
        raise BetoConfigError("Give exactly one of --init MODEL (weights) or --config DIR.")
    source = str(init or config_dir)
    try:
        hf_config = AutoConfig.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except OSError as err:
        raise BetoConfigError(
            f"Cannot load '{source}': {err}. Offline, point --init/--config at a local "
            f"directory with config.json and vocab.txt (e.g. from build-mini)."
        ) from err
    if hf_config.model_type != "bert":
        raise BetoConfigError(
            f"'{source}' is a {hf_config.model_type} model; pretraining supports BERT (BETO)."
        )
    if not tokenizer.is_fast:
        raise BetoConfigError(f"'{source}' has no fast tokenizer (tokenizer.json or vocab.txt).")
    if len(tokenizer) > hf_config.vocab_size:
        raise BetoConfigError(
            f"'{source}': tokenizer has {len(tokenizer)} entries, the model {hf_config.vocab_size}."
        )
    hf_config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(seed)
    if init is not None:
        model = BertForPreTraining.from_pretrained(source, config=hf_config)
    else:
        model = BertForPreTraining(hf_config)
    return model, tokenizer


@dataclass
class _RunState:
    """What a checkpoint saves besides the weights, optimizer, scheduler and RNG."""

    step: int = 0
    position: Position = field(default_factory=Position)
    curve: List[Dict[str, float]] = field(default_factory=list)
    words_seen: int = 0
    seconds: float = 0.0  # spent on the steps up to the checkpoint, over all runs


def pretrain(
    texts: Sequence[Union[str, Path]],
    *,
    output: Union[str, Path],
    init: Optional[str] = None,
    config_dir: Optional[str] = None,
    dev: Optional[Union[str, Path]] = None,
    config: Optional[PretrainConfig] = None,
    resume: bool = False,
    on_step: Optional[Callable[[int], None]] = None,
) -> PretrainResult:
    """Pretrain with whole-word-masking MLM (+ NSP if config.nsp_weight > 0) on `texts`.

    `on_step(step)` is called after each update (tests use it to interrupt a run).
    """
    cfg = config or PretrainConfig()
    output = Path(output)
    ckpt_root = output / CHECKPOINTS
    latest, saved = _checkpoint_to_resume(ckpt_root, output, cfg, resume=resume)
    if latest is not None:
        model, tokenizer = load_model(init=str(latest), config_dir=None, seed=cfg.seed)
    else:
        model, tokenizer = load_model(init=init, config_dir=config_dir, seed=cfg.seed)
    device = _device(cfg)
    model.to(device)
    data = _training_data(texts, tokenizer, cfg)
    files = [str(path.resolve()) for path in data.files]
    if saved and saved.get("files", files) != files:
        raise BetoConfigError(
            f"Cannot resume from {latest}: it was trained on {saved['files']}, not {files}. "
            f"Give the same text files as the interrupted run."
        )
    dev_batches = _dev_batches(dev, tokenizer, cfg)
    baseline = None
    if dev_batches is not None:
        baseline = unigram_perplexity(
            data, dev_batches, vocab_size=model.config.vocab_size, max_lines=cfg.baseline_max_lines
        )
        logger.info(
            "Unigram baseline (add-one, %d training pieces): dev perplexity %.2f",
            baseline["train_pieces"],
            baseline["dev_perplexity"],
        )
    optimizer, scheduler = _optimizer(model, cfg)
    run = _RunState()
    if latest is not None:
        run = _restore(latest, saved, optimizer, scheduler, device)
        data.stats.update(run.position.stats)
        logger.info("Resuming from %s at step %d", latest, run.step)
    elif dev_batches is not None:
        run.curve.append(_dev_point(model, dev_batches, cfg, step=0, train_loss=None))

    start_time = time.time()

    def save_checkpoint() -> None:
        _write_checkpoint(
            ckpt_root,
            step=run.step,
            model=model,
            tokenizer=tokenizer,
            optimizer=optimizer,
            scheduler=scheduler,
            state={
                "step": run.step,
                "position": run.position.to_dict(),
                "curve": run.curve,
                "words_seen": run.words_seen,
                "seconds": round(run.seconds + time.time() - start_time, 1),
                "config": asdict(cfg),
                "files": files,
            },
            device=device,
            keep=cfg.keep_checkpoints,
        )

    run_words = _train_loop(
        model,
        data.batches(start=run.position),
        run,
        cfg=cfg,
        device=device,
        optimizer=optimizer,
        scheduler=scheduler,
        dev_batches=dev_batches,
        save_checkpoint=save_checkpoint,
        on_step=on_step,
    )
    if run.step % cfg.checkpoint_every != 0:
        save_checkpoint()
    if dev_batches is not None and (not run.curve or run.curve[-1]["step"] != run.step):
        run.curve.append(_dev_point(model, dev_batches, cfg, step=run.step, train_loss=None))
    _save_model(output, model, tokenizer)
    stats = data.stats.to_dict()
    elapsed = time.time() - start_time
    metrics = {
        "steps": run.step,
        "words_seen": run.words_seen,
        "stopped_by_time_limit": run.step < cfg.max_steps,
        "seconds_this_run": round(elapsed, 1),
        # work lost after the last checkpoint of an interrupted run is not counted
        "seconds_all_runs": round(run.seconds + elapsed, 1),
        "words_per_second_this_run": round(run_words / max(elapsed, 1e-9), 1),
        "curve": run.curve,
        "unigram_baseline": baseline,
        "data": stats,
        "config": asdict(cfg),
        "device": str(device),
    }
    (output / METRICS).write_text(json.dumps(metrics, indent=2), encoding="utf8")
    logger.info("Wrote the pretrained model to %s (%d steps)", output, run.step)
    return PretrainResult(output=output, steps=run.step, curve=run.curve, stats=stats)


def _checkpoint_to_resume(
    ckpt_root: Path, output: Path, cfg: PretrainConfig, *, resume: bool
) -> Tuple[Optional[Path], Dict[str, Any]]:
    """(newest checkpoint, its state.json) to resume from, or (None, {}) to start afresh."""
    latest = latest_checkpoint(ckpt_root)
    if latest is not None and not resume:
        raise BetoConfigError(
            f"{output} has checkpoints ({latest.name}): pass --resume to continue that run, or "
            f"use a new --output directory."
        )
    if not resume:
        return None, {}
    if latest is None:
        logger.info("No checkpoint in %s: starting from the beginning", ckpt_root)
        return None, {}
    saved = json.loads((latest / "state.json").read_text(encoding="utf8"))
    _check_resume_config(saved["config"], cfg, latest)
    return latest, saved


def _training_data(
    texts: Sequence[Union[str, Path]], tokenizer: Any, cfg: PretrainConfig
) -> PretrainingData:
    return PretrainingData(
        texts,
        tokenizer=tokenizer,
        batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        nsp=cfg.nsp_weight > 0,
        seed=cfg.seed,
        word_rate=cfg.word_rate,
        chunk_lines=cfg.chunk_lines,
        max_line_bytes=cfg.max_line_bytes,
        pack=cfg.pack,
    )


def _device(cfg: PretrainConfig) -> Any:
    """The torch device of `cfg.device`; a clear error if it is a GPU torch cannot use. Sets
    `cfg.bf16` (None: on where the GPU supports bfloat16)."""
    import torch

    device = torch.device(cfg.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BetoConfigError(
                f"--gpu-id {device.index or 0}: torch {torch.__version__} sees no CUDA GPU. "
                f"Use --gpu-id -1 (CPU) or install a CUDA build of torch."
            )
        if (device.index or 0) >= torch.cuda.device_count():
            raise BetoConfigError(
                f"--gpu-id {device.index}: only {torch.cuda.device_count()} GPU(s) visible."
            )
        if cfg.bf16 is None:
            cfg.bf16 = bool(torch.cuda.is_bf16_supported())
    elif cfg.bf16 is None:
        cfg.bf16 = False
    return device


def _dev_batches(
    dev: Optional[Union[str, Path]], tokenizer: Any, cfg: PretrainConfig
) -> Optional[List[Dict[str, Any]]]:
    """The held-out batches (fixed masks), or None without a dev file."""
    if dev is None:
        return None
    dev_data = PretrainingData(
        [dev],
        tokenizer=tokenizer,
        batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        nsp=False,
        seed=cfg.seed,
        word_rate=cfg.word_rate,
        max_line_bytes=cfg.max_line_bytes,
        pack=cfg.pack,
    )
    return dev_data.one_pass(max_lines=cfg.dev_max_lines)


def _restore(
    latest: Path, saved: Dict[str, Any], optimizer: Any, scheduler: Any, device: Any
) -> _RunState:
    """Load the optimizer, scheduler and RNG state of a checkpoint; its run state."""
    import torch

    optimizer.load_state_dict(torch.load(latest / "optimizer.pt", map_location=device))
    scheduler.load_state_dict(torch.load(latest / "scheduler.pt"))
    rng = torch.load(latest / "rng.pt")
    torch.set_rng_state(rng["cpu"])
    if device.type == "cuda" and rng.get("cuda") is not None:
        torch.cuda.set_rng_state(rng["cuda"], device)
    return _RunState(
        step=saved["step"],
        position=Position.from_dict(saved["position"]),
        curve=saved["curve"],
        words_seen=saved["words_seen"],
        seconds=saved.get("seconds", 0.0),  # checkpoints before 2026-11-29 lack it
    )


def _train_loop(
    model: Any,
    stream: Iterator[Tuple[Dict[str, Any], Position]],
    run: _RunState,
    *,
    cfg: PretrainConfig,
    device: Any,
    optimizer: Any,
    scheduler: Any,
    dev_batches: Optional[List[Dict[str, Any]]],
    save_checkpoint: Callable[[], None],
    on_step: Optional[Callable[[int], None]],
) -> int:
    """Update until max_steps or the time limit, logging, evaluating and checkpointing as
    configured; `run` advances with each update. Returns the words seen in this run.

    Ctrl-C or a data error between updates writes a checkpoint before it propagates.
    """
    import torch

    start_time = time.time()
    window: Dict[str, Any] = {"loss": 0.0, "mlm": 0.0, "nsp": 0.0, "steps": 0, "words": 0}
    window["time"] = start_time
    updating = False
    run_words = 0
    try:
        while run.step < cfg.max_steps:
            if cfg.max_minutes is not None and time.time() - start_time > 60 * cfg.max_minutes:
                logger.warning(
                    "Time limit of %s minutes reached at step %d of %d: the learning-rate "
                    "schedule (planned for %d steps) stopped at lr %.2e, and the model is saved "
                    "as it is. To finish the schedule, run the same command again with --resume "
                    "(it continues from the checkpoint written now), or give more --max-minutes "
                    "or fewer --max-steps.",
                    cfg.max_minutes, run.step, cfg.max_steps, cfg.max_steps,
                    scheduler.get_last_lr()[0],
                )  # fmt: skip
                break
            batch, next_position = next(stream)
            model.train()
            mlm, nsp = _losses(model, batch, cfg, device)
            loss = mlm if nsp is None else mlm + cfg.nsp_weight * nsp
            loss.backward()
            updating = True
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            run.step, run.position = run.step + 1, next_position
            updating = False
            step = run.step
            run.words_seen += batch["n_words"]
            run_words += batch["n_words"]
            # Tensors, summed on the device: no GPU sync until a progress line needs them.
            window["loss"] += loss.detach()
            window["mlm"] += mlm.detach()
            window["nsp"] += nsp.detach() if nsp is not None else 0.0
            window["steps"] += 1
            window["words"] += batch["n_words"]
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                _log_progress(step, cfg, window, scheduler.get_last_lr()[0])
            if dev_batches is not None and (step % cfg.eval_every == 0 or step == cfg.max_steps):
                train_loss = float(window["mlm"]) / max(window["steps"], 1)
                run.curve.append(
                    _dev_point(model, dev_batches, cfg, step=step, train_loss=train_loss)
                )
            if step % cfg.log_every == 0:
                window.update(loss=0.0, mlm=0.0, nsp=0.0, steps=0, words=0, time=time.time())
            if step % cfg.checkpoint_every == 0:
                save_checkpoint()
            if on_step is not None:
                on_step(step)
    except BaseException:
        # Ctrl-C or a data error between updates: keep the work done so far.
        if not updating and run.step > 0:
            logger.warning("Interrupted at step %d: writing a checkpoint to resume from", run.step)
            save_checkpoint()
        raise
    return run_words


def latest_checkpoint(root: Path) -> Optional[Path]:
    """The checkpoint directory with the highest step under `root`, if any."""
    if not root.is_dir():
        return None
    done = [p for p in root.glob("step-*") if p.is_dir() and (p / "state.json").exists()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def _check_resume_config(saved: Dict[str, Any], cfg: PretrainConfig, where: Path) -> None:
    diffs = [
        f"{key}: checkpoint {saved.get(key)!r}, now {getattr(cfg, key)!r}"
        for key in RESUME_KEYS
        if saved.get(key) != getattr(cfg, key)
    ]
    if diffs:
        raise BetoConfigError(
            f"Cannot resume from {where} with different settings ({'; '.join(diffs)}). "
            f"Use the settings of the interrupted run."
        )


def _optimizer(model: Any, cfg: PretrainConfig) -> Tuple[Any, Any]:
    """AdamW without weight decay on biases and LayerNorm; linear warmup, then linear or
    cosine decay to 0 at max_steps."""
    import torch
    from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    decay: List[Any] = []
    no_decay: List[Any] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(0.9, 0.999),
        eps=1e-6,
    )
    make = (
        get_cosine_schedule_with_warmup
        if cfg.schedule == "cosine"
        else (get_linear_schedule_with_warmup)
    )
    scheduler = make(optimizer, cfg.warmup_steps, cfg.max_steps)
    return optimizer, scheduler


def _losses(model: Any, batch: Dict[str, Any], cfg: PretrainConfig, device: Any) -> Tuple[Any, Any]:
    """(MLM loss, NSP loss or None); the MLM head runs on the masked positions only."""
    import torch
    import torch.nn.functional as F

    # The masked positions are found on the CPU, so that selecting them needs no GPU sync.
    flat_labels = batch["labels"].view(-1)
    selected = torch.nonzero(flat_labels != -100).squeeze(1)
    labels = flat_labels[selected].to(device, non_blocking=True)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bool(cfg.bf16))
    with autocast:
        out = model.bert(
            input_ids=batch["input_ids"].to(device, non_blocking=True),
            attention_mask=batch["attention_mask"].to(device, non_blocking=True),
            token_type_ids=batch["token_type_ids"].to(device, non_blocking=True),
        )
        hidden = out[0].reshape(-1, out[0].shape[-1])
        logits = model.cls.predictions(hidden.index_select(0, selected.to(device)))
    mlm = F.cross_entropy(logits.float(), labels)
    nsp = None
    nsp_labels = batch["next_sentence_label"].to(device)
    if cfg.nsp_weight > 0 and bool((nsp_labels != -100).any()):
        with autocast:
            nsp_logits = model.cls.seq_relationship(out[1])
        nsp = F.cross_entropy(nsp_logits.float(), nsp_labels, ignore_index=-100)
    return mlm, nsp


def _dev_point(
    model: Any,
    batches: List[Dict[str, Any]],
    cfg: PretrainConfig,
    *,
    step: int,
    train_loss: Optional[float],
) -> Dict[str, float]:
    """Held-out MLM loss (mean over masked pieces) and perplexity, with fixed masks."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            mlm, _ = _losses(model, batch, cfg, device)
            k = int((batch["labels"] != -100).sum())
            total += float(mlm) * k
            n += k
    loss = total / max(n, 1)
    point = {"step": step, "dev_loss": round(loss, 4), "dev_perplexity": round(math.exp(loss), 2)}
    if train_loss is not None:
        point["train_loss"] = round(train_loss, 4)
    logger.info("step %d: dev MLM loss %.4f, perplexity %.2f", step, loss, point["dev_perplexity"])
    return point


def _log_progress(step: int, cfg: PretrainConfig, window: Dict[str, Any], lr: float) -> None:
    n = max(window["steps"], 1)
    seconds = max(time.time() - window["time"], 1e-9)
    nsp = f", NSP {float(window['nsp']) / n:.4f}" if cfg.nsp_weight > 0 else ""
    logger.info(
        "step %d/%d: loss %.4f (MLM %.4f%s), lr %.2e, %.0f words/s",
        step,
        cfg.max_steps,
        float(window["loss"]) / n,
        float(window["mlm"]) / n,
        nsp,
        lr,
        window["words"] / seconds,
    )


def _save_model(directory: Path, model: Any, tokenizer: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))


def _write_checkpoint(
    root: Path,
    *,
    step: int,
    model: Any,
    tokenizer: Any,
    optimizer: Any,
    scheduler: Any,
    state: Dict[str, Any],
    device: Any,
    keep: int,
) -> Path:
    """Write checkpoint step-N atomically (temp dir, then rename); keep the newest `keep`."""
    import torch

    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    _save_model(tmp, model, tokenizer)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    rng = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    torch.save(rng, tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=2), encoding="utf8")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    old = sorted(
        (p for p in root.glob("step-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1])
    )
    for path in old[: max(len(old) - max(keep, 1), 0)]:
        shutil.rmtree(path, ignore_errors=True)
    logger.info("Checkpoint %s", final)
    return final
