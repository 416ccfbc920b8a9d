"""Pretraining: whole-word masking, NSP pairs, streaming data, checkpoints/resume, bad input."""

import json
import logging
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import pytest
import torch

from spacy_beto.errors import BetoConfigError, CorpusError
from spacy_beto.pretrain import (
    MaskingConfig,
    Position,
    PretrainConfig,
    PretrainingData,
    latest_checkpoint,
    make_pairs,
    mask_whole_words,
    pretrain,
    word_groups,
)
from spacy_beto.pretrain.masking import IGNORE_INDEX
from spacy_beto.pretrain.nsp import IS_NEXT, NO_PAIR, NOT_NEXT

from .conftest import CORPUS

MASK_ID = 0
CONFIG = MaskingConfig(mask_id=MASK_ID, vocab_size=5000, special_ids=(0, 1, 2, 3, 4, 5))


def synthetic(rng: np.random.Generator, n_words: int):
    """[CLS] + words of 1-3 pieces + [SEP]: (ids, word_ids)."""
    ids: List[int] = [4]
    words: List[Optional[int]] = [None]
    for w in range(n_words):
        for _ in range(int(rng.integers(1, 4))):
            ids.append(int(rng.integers(10, 5000)))
            words.append(w)
    return ids + [5], words + [None]


def test_word_groups_split_on_word_id_changes_and_specials():
    assert word_groups([None, 0, 0, 1, None, 0, 1, 1, None]) == [[1, 2], [3], [5], [6, 7]]


def test_whole_word_masking_masks_all_pieces_of_a_word_together():
    rng = np.random.default_rng(0)
    n_multi = 0
    for _ in range(300):
        ids, words = synthetic(rng, 20)
        masked, labels = mask_whole_words(ids, words, config=CONFIG, rng=rng)
        assert labels[0] == labels[-1] == IGNORE_INDEX  # [CLS], [SEP] never predicted
        for group in word_groups(words):
            chosen = {labels[p] != IGNORE_INDEX for p in group}
            assert len(chosen) == 1, "pieces of one word selected separately"
            if chosen == {True}:
                assert all(labels[p] == ids[p] for p in group)
                kinds = {
                    "mask" if masked[p] == MASK_ID else "keep" if masked[p] == ids[p] else "rand"
                    for p in group
                }
                assert len(kinds) == 1, "a word half masked"
                n_multi += len(group) > 1
    assert n_multi > 100


def test_whole_word_masking_rates_on_a_fixed_seed():
    rng = np.random.default_rng(1)
    n_words = n_selected = 0
    expected = 0
    kinds = {"mask": 0, "rand": 0, "keep": 0}
    for _ in range(2000):
        length = int(rng.integers(5, 60))
        ids, words = synthetic(rng, length)
        masked, labels = mask_whole_words(ids, words, config=CONFIG, rng=rng)
        n_words += length
        expected += max(1, round(length * 0.15))
        for group in word_groups(words):
            p = group[0]
            if labels[p] == IGNORE_INDEX:
                continue
            n_selected += 1
            kind = "mask" if masked[p] == MASK_ID else "keep" if masked[p] == ids[p] else "rand"
            kinds[kind] += 1
            assert masked[p] not in CONFIG.special_ids or kind == "mask"
    # 15 % of the words of each sequence (rounded, at least one): exact count
    assert n_selected == expected
    assert n_selected / n_words == pytest.approx(0.15, abs=0.01)
    assert kinds["mask"] / n_selected == pytest.approx(0.8, abs=0.02)
    assert kinds["rand"] / n_selected == pytest.approx(0.1, abs=0.015)
    assert kinds["keep"] / n_selected == pytest.approx(0.1, abs=0.015)


def test_whole_word_masking_with_the_real_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    enc = tok("Electroencefalografistas ñandúes desoxirribonucleicos", add_special_tokens=False)
    words = enc.word_ids()
    assert len(words) > len(set(words)), "expected words of several pieces"
    config = MaskingConfig(
        mask_id=tok.mask_token_id, vocab_size=len(tok), special_ids=tuple(tok.all_special_ids)
    )
    for seed in range(20):
        _, labels = mask_whole_words(
            enc["input_ids"], words, config=config, rng=np.random.default_rng(seed)
        )
        picked = {w for w, lab in zip(words, labels) if lab != IGNORE_INDEX}
        assert len(picked) == 1  # round(3 * 0.15) -> at least one word
        assert all((lab != IGNORE_INDEX) == (w in picked) for w, lab in zip(words, labels))


def test_nsp_pairs():
    docs = [[f"d{d}s{i}" for i in range(n)] for d, n in enumerate([5, 1, 8, 3, 6] * 20)]
    pairs = make_pairs(docs, rng=np.random.default_rng(0))
    assert len(pairs) == sum(len(d) for d in docs)
    where = {s: (d, i) for d, doc in enumerate(docs) for i, s in enumerate(doc)}
    labels = [label for _, _, label in pairs]
    for a, b, label in pairs:
        da, ia = where[a]
        if label == NO_PAIR:
            assert b is None and ia == len(docs[da]) - 1
        elif label == IS_NEXT:
            assert where[b] == (da, ia + 1)
        else:
            assert label == NOT_NEXT and where[b][0] != da
    with_next = labels.count(IS_NEXT) + labels.count(NOT_NEXT)
    assert labels.count(NOT_NEXT) / with_next == pytest.approx(0.5, abs=0.07)
    # one document: no other document to draw from, so every pair is a real successor
    single = make_pairs([["a", "b", "c"]], rng=np.random.default_rng(0))
    assert single == [("a", "b", IS_NEXT), ("b", "c", IS_NEXT), ("c", None, NO_PAIR)]


def write(path: Path, lines: List[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


@pytest.fixture(scope="module")
def corpus_lines() -> List[str]:
    lines = []
    with (CORPUS / "ner" / "train.jsonl").open(encoding="utf8") as fileh:
        for line, _ in zip(fileh, range(160)):
            lines.append(json.loads(line)["text"])
    return lines


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_nsp_batches_have_segments_and_labels(tmp_path, corpus_lines, tokenizer):
    # blank lines end documents
    lines = [line if i % 4 else "" for i, line in enumerate(corpus_lines[:80])]
    data = PretrainingData(
        [write(tmp_path / "t.txt", lines)], tokenizer=tokenizer, batch_size=8, nsp=True
    )
    batch, _ = next(data.batches())
    labels = batch["next_sentence_label"].tolist()
    assert set(labels) <= {IS_NEXT, NOT_NEXT, NO_PAIR} and set(labels) & {IS_NEXT, NOT_NEXT}
    for row, label in enumerate(labels):
        types = batch["token_type_ids"][row][batch["attention_mask"][row].bool()].tolist()
        n_seps = int((batch["input_ids"][row] == tokenizer.sep_token_id).sum())
        if label == NO_PAIR:
            assert set(types) == {0}
        else:
            assert types == sorted(types) and set(types) == {0, 1} and n_seps >= 1


@pytest.mark.parametrize("pack,max_length", [(False, 128), (True, 32)])
def test_data_resumes_at_the_same_batch(tmp_path, corpus_lines, tokenizer, pack, max_length):
    files = [
        write(tmp_path / "a.txt", corpus_lines[:70]),
        write(tmp_path / "b.txt", corpus_lines[70:]),
    ]

    def make():
        return PretrainingData(
            files,
            tokenizer=tokenizer,
            batch_size=8,
            chunk_lines=30,
            pack=pack,
            max_length=max_length,
        )

    stream = make().batches()
    full = [next(stream) for _ in range(50)]  # several chunks, files and epochs
    assert {pos.epoch for _, pos in full} == {0, 1, 2}
    assert {pos.file_index for _, pos in full} == {0, 1} and max(p.chunk for _, p in full) >= 4
    for k in (1, 7, 19, 33):
        resumed = make().batches(start=Position.from_dict(full[k - 1][1].to_dict()))
        for (want, _), (got, _) in zip(full[k:], resumed):
            assert torch.equal(want["input_ids"], got["input_ids"])
            assert torch.equal(want["labels"], got["labels"])


def tiny_run(tmp_path, texts, tiny_model_dir, name, **kwargs):
    cfg = PretrainConfig(
        max_steps=8,
        batch_size=8,
        lr=1e-3,
        chunk_lines=40,
        checkpoint_every=3,
        eval_every=4,
        log_every=2,
        dev_max_lines=20,
    )
    return pretrain(
        texts,
        output=tmp_path / name,
        init=str(tiny_model_dir),
        dev=texts[0],
        config=cfg,
        **kwargs,
    )


def weights(model_dir: Path):
    from transformers import BertForPreTraining

    return BertForPreTraining.from_pretrained(str(model_dir)).state_dict()


def test_resume_after_interruption_equals_uninterrupted(tmp_path, corpus_lines, tiny_model_dir):
    texts = [write(tmp_path / "t.txt", corpus_lines[:100])]
    full = tiny_run(tmp_path, texts, tiny_model_dir, "full")

    def interrupt(step: int) -> None:
        time.sleep(0.1)  # so that the 5 steps before the interruption take >= 0.5 s
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tiny_run(tmp_path, texts, tiny_model_dir, "cut", on_step=interrupt)
    assert latest_checkpoint(tmp_path / "cut" / "checkpoints").name == "step-00000005"
    with pytest.raises(BetoConfigError, match="--resume"):
        tiny_run(tmp_path, texts, tiny_model_dir, "cut")
    resumed = tiny_run(tmp_path, texts, tiny_model_dir, "cut", resume=True)
    assert resumed.steps == full.steps == 8
    want, got = weights(full.output), weights(resumed.output)
    for key, value in want.items():
        assert torch.allclose(value, got[key], atol=1e-6), key
    assert [p["step"] for p in resumed.curve] == [p["step"] for p in full.curve] == [0, 4, 8]
    for a, b in zip(full.curve, resumed.curve):
        assert a["dev_loss"] == pytest.approx(b["dev_loss"], abs=1e-4)
    metrics = json.loads((resumed.output / "pretrain-metrics.json").read_text())
    assert metrics["steps"] == 8 and metrics["curve"][-1]["dev_perplexity"] > 1
    # the time of the interrupted run's first 5 steps counts, through its checkpoint
    assert metrics["seconds_all_runs"] >= metrics["seconds_this_run"] + 0.4  # 0.5, rounded


def test_time_limit_stops_saves_and_says_how_to_finish(
    tmp_path, corpus_lines, tiny_model_dir, caplog
):
    texts = [write(tmp_path / "t.txt", corpus_lines[:100])]
    cfg = PretrainConfig(max_steps=8, batch_size=8, chunk_lines=40, checkpoint_every=3)
    cfg.max_minutes = 0.3 / 60  # 0.3 s; every step below takes at least 0.5 s
    with caplog.at_level(logging.WARNING, logger="spacy_beto"):
        cut = pretrain(
            texts, output=tmp_path / "o", init=str(tiny_model_dir), config=cfg,
            on_step=lambda step: time.sleep(0.5),
        )  # fmt: skip
    assert cut.steps == 1
    assert "Time limit" in caplog.text and "step 1 of 8" in caplog.text
    assert "--resume" in caplog.text
    metrics = json.loads((tmp_path / "o" / "pretrain-metrics.json").read_text())
    assert metrics["stopped_by_time_limit"] is True and metrics["steps"] == 1
    assert latest_checkpoint(tmp_path / "o" / "checkpoints").name == "step-00000001"
    cfg.max_minutes = None
    done = pretrain(texts, output=tmp_path / "o", init=str(tiny_model_dir), config=cfg, resume=True)
    assert done.steps == 8
    metrics = json.loads((tmp_path / "o" / "pretrain-metrics.json").read_text())
    assert metrics["stopped_by_time_limit"] is False


def test_resume_refuses_changed_settings(tmp_path, corpus_lines, tiny_model_dir):
    texts = [write(tmp_path / "t.txt", corpus_lines[:40])]
    cfg = PretrainConfig(max_steps=2, batch_size=8, checkpoint_every=1)
    pretrain(texts, output=tmp_path / "o", init=str(tiny_model_dir), config=cfg)
    other = PretrainConfig(max_steps=2, batch_size=4, checkpoint_every=1)
    with pytest.raises(BetoConfigError, match="batch_size"):
        pretrain(texts, output=tmp_path / "o", init=str(tiny_model_dir), config=other, resume=True)
    moved = [write(tmp_path / "other.txt", corpus_lines[:40])]
    with pytest.raises(BetoConfigError, match="same text files"):
        pretrain(moved, output=tmp_path / "o", init=str(tiny_model_dir), config=cfg, resume=True)


def test_output_loads_into_automodel_and_beto_transformer(tmp_path, corpus_lines, tiny_model_dir):
    import spacy
    from transformers import AutoModel

    texts = [write(tmp_path / "t.txt", corpus_lines[:40])]
    cfg = PretrainConfig(max_steps=3, batch_size=8, lr=1e-2, nsp_weight=0.5)
    out = pretrain(texts, output=tmp_path / "o", config_dir=str(tiny_model_dir), config=cfg)
    trained = weights(out.output)
    key = "embeddings.word_embeddings.weight"
    auto = AutoModel.from_pretrained(str(out.output)).state_dict()
    for name, value in auto.items():
        assert torch.equal(value, trained[f"bert.{name}"]), name
    initial = AutoModel.from_pretrained(str(tiny_model_dir)).state_dict()
    assert not torch.equal(auto[key], initial[key])

    nlp = spacy.blank("es")
    nlp.add_pipe("beto_transformer", config={"model": {"name": str(out.output)}})
    nlp.initialize()
    hf = nlp.get_pipe("beto_transformer").model.transformer
    assert torch.equal(hf.state_dict()[key], trained[f"bert.{key}"])
    assert nlp("El Banco de España abrió en Madrid.")._.trf_data is not None


def test_bad_input_files(tmp_path, corpus_lines, tokenizer):
    def data(*paths, **kwargs):
        return PretrainingData(list(paths), tokenizer=tokenizer, batch_size=4, **kwargs)

    good = write(tmp_path / "good.txt", corpus_lines[:10])
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(CorpusError, match="all input files are empty"):
        data(empty)
    assert data(empty, good).stats.empty_files == 1
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"PK\x03\x04\x00\x00\x08\x00" + bytes(range(256)) * 4)
    with pytest.raises(CorpusError, match="binary file"):
        data(good, binary)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("El niño comió en Málaga.\nOtra línea.\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8"):
        data(latin1)
    with pytest.raises(CorpusError, match="no such file"):
        data(tmp_path / "missing.txt")


def test_bad_lines_are_skipped_and_counted(tmp_path, corpus_lines, tokenizer):
    mixed = tmp_path / "mixed.txt"
    padding = "".join(line + "\n" for line in corpus_lines) * 6  # past the 64 KB sniff
    mixed.write_bytes(
        "Año de la señal.\n".encode("utf8")
        + b"una l\xednea en latin-1\n"
        + ("x" * 500 + "\n").encode("utf8")
        + b'{"text": 1}\n'
        + padding.encode("utf8")
        + b"con un NUL \x00 dentro\n"
        + "Última línea buena.\n".encode("utf8")
    )
    good = ["Año de la señal.", '{"text": 1}', *corpus_lines * 6, "Última línea buena."]
    enc = tokenizer(good, add_special_tokens=False)
    n_words = sum(len({w for w in enc.word_ids(i) if w is not None}) for i in range(len(good)))
    for pack in (False, True):
        data = PretrainingData(
            [mixed], tokenizer=tokenizer, batch_size=4, max_line_bytes=300, pack=pack
        )
        batches = data.one_pass(max_lines=100_000)
        stats = data.stats
        assert (stats.non_utf8_lines, stats.overlong_lines, stats.binary_lines) == (1, 1, 1)
        assert stats.lines == len(good)  # '{"text": 1}' is plain text in a .txt
        # every word of every good line is in exactly one example
        assert sum(b["n_words"] for b in batches) == n_words
        if not pack:  # one example per line
            assert sum(len(b["input_ids"]) for b in batches) == stats.lines
        else:  # full sequences: all but the last have about max_length pieces
            rows = torch.cat([b["attention_mask"].sum(1) for b in batches])
            assert len(rows) < stats.lines / 3 and int(rows[:-1].min()) > 100
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"text": "Hola mundo"}\n{"text": 1}\nno json\n', encoding="utf8")
    data = PretrainingData([jsonl], tokenizer=tokenizer, batch_size=4)
    data.one_pass(max_lines=10)
    assert (data.stats.lines, data.stats.invalid_json_lines) == (1, 2)


def test_no_usable_line_fails_before_training(tmp_path, tiny_model_dir):
    only_long = write(tmp_path / "long.txt", ["palabra " * 100] * 3)
    cfg = PretrainConfig(max_steps=2, batch_size=4, max_line_bytes=100)
    with pytest.raises(CorpusError, match="No usable text lines"):
        pretrain([only_long], output=tmp_path / "o", init=str(tiny_model_dir), config=cfg)
    assert latest_checkpoint(tmp_path / "o" / "checkpoints") is None


def test_cli(tmp_path, corpus_lines, tiny_model_dir):
    from typer.testing import CliRunner

    from spacy_beto.cli import app

    text = write(tmp_path / "t.txt", corpus_lines[:30])
    out = tmp_path / "out"
    args = ["pretrain", str(text), "--output", str(out), "--init", str(tiny_model_dir)]
    args += ["--dev", str(text), "--max-steps", "2", "--batch-size", "8", "--log-every", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "config.json").exists() and (out / "pretrain-metrics.json").exists()
    assert "Wrote" in result.output and "--resume" not in result.output
    # A time limit that cuts the schedule short: the summary says so and how to finish it.
    args = ["pretrain", str(text), "--output", str(tmp_path / "cut"), "--init", str(tiny_model_dir)]
    args += ["--max-steps", "50", "--batch-size", "8", "--max-minutes", "0.00001"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "before step 50" in result.output and "--resume" in result.output
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\x00\x01\x02")
    result = CliRunner().invoke(app, ["pretrain", str(binary), "-o", str(tmp_path / "x")])
    assert result.exit_code == 1
    result = CliRunner().invoke(
        app, ["pretrain", str(binary), "-o", str(tmp_path / "x"), "--init", str(tiny_model_dir)]
    )
    assert result.exit_code == 1 and "binary file" in result.output


def test_settings_errors_and_unigram_baseline(tmp_path, corpus_lines, tiny_model_dir):
    with pytest.raises(BetoConfigError, match="schedule"):
        PretrainConfig(schedule="step")
    texts = [write(tmp_path / "t.txt", corpus_lines[:60])]
    if not torch.cuda.is_available():
        gpu = PretrainConfig(max_steps=2, batch_size=4, device="cuda:0")
        with pytest.raises(BetoConfigError, match="no CUDA GPU"):
            pretrain(texts, output=tmp_path / "g", init=str(tiny_model_dir), config=gpu)
    cfg = PretrainConfig(max_steps=4, batch_size=4, lr=1e-3, schedule="cosine", max_length=64)
    out = pretrain(texts, output=tmp_path / "o", init=str(tiny_model_dir), dev=texts[0], config=cfg)
    metrics = json.loads((out.output / "pretrain-metrics.json").read_text())
    base = metrics["unigram_baseline"]
    # scored on the same masked dev pieces as the model; a random model is far worse
    assert base["train_lines"] == 60 and base["dev_pieces"] > 0
    assert 1 < base["dev_perplexity"] < metrics["curve"][0]["dev_perplexity"]
    assert metrics["config"]["pack"] is True and metrics["config"]["bf16"] is False
