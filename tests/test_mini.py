"""build-mini: loadable output, vocab options, and clear errors on bad input."""

import subprocess
import sys

import pytest
from transformers import AutoModel, AutoTokenizer

from spacy_beto import BetoConfigError, CorpusError
from spacy_beto.mini import BETO_SPECIAL_TOKENS, build_mini


def test_build_from_existing_vocab(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(list(BETO_SPECIAL_TOKENS) + ["El", "Él", "árbol", "##es", "."]))
    out = build_mini(tmp_path / "m", vocab_path=vocab, layers=1, hidden=16, heads=2)
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModel.from_pretrained(str(out))
    assert tok.tokenize("Él árboles.") == ["Él", "árbol", "##es", "."]
    assert model.config.vocab_size == 11 and model.config.num_hidden_layers == 1
    assert model.config.pad_token_id == 1


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(BetoConfigError, match="divisible by --heads"):
        build_mini(tmp_path / "m", vocab_path=tmp_path / "v.txt", hidden=30, heads=4)
    with pytest.raises(BetoConfigError, match="vocabulary file not found"):
        build_mini(tmp_path / "m", vocab_path=tmp_path / "missing.txt")
    bad_vocab = tmp_path / "bad.txt"
    bad_vocab.write_text("hola\nmundo\n")
    with pytest.raises(BetoConfigError, match=r"missing special tokens \['\[PAD\]'"):
        build_mini(tmp_path / "m", vocab_path=bad_vocab)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "hola"}\n{"texto": "hola"}\n')
    with pytest.raises(CorpusError) as err:
        build_mini(tmp_path / "m", texts=[broken])
    assert str(err.value) == (
        f"{broken}:2: no string field 'text'. Fix it, or pass --skip-invalid "
        f"(skip_invalid=True) to skip such lines, counted and listed."
    )
    out = build_mini(
        tmp_path / "m", texts=[broken], skip_invalid=True, min_frequency=1, layers=1, hidden=16
    )
    assert "hola" in (out / "vocab.txt").read_text(encoding="utf8").split()
    with pytest.raises(CorpusError, match="no such file"):
        build_mini(tmp_path / "m", texts=[tmp_path / "nope.txt"])


def test_empty_input_file_is_named(tmp_path):
    """Issue 13 item 9: the error names the empty file(s)."""
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(BetoConfigError) as err:
        build_mini(tmp_path / "m", texts=[empty])
    assert str(err.value) == f"No text to train the vocabulary on: {empty} has no text lines."
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n")
    with pytest.raises(BetoConfigError) as err:
        build_mini(tmp_path / "m", texts=[blank, empty])
    assert str(err.value) == (
        f"No text to train the vocabulary on: none of {blank}, {empty} has a text line."
    )
    result = run_cli("build-mini", str(empty), "--output", str(tmp_path / "m"))
    assert result.returncode == 1
    output = " ".join((result.stdout + result.stderr).split())
    assert f"{empty} has no text lines" in output and "Traceback" not in output


def run_cli(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-m", "spacy_beto", *args], capture_output=True, text=True
    )


def test_cli_reports_error_without_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "spacy_beto",
            "build-mini",
            str(tmp_path / "nope.txt"),
            "--output",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    output = " ".join((result.stdout + result.stderr).split())
    assert "nope.txt: no such file or directory" in output
    assert "Traceback" not in output


def test_wordpiece_merges_as_tokenizers_does():
    """BPE with the "##" prefix, as tokenizers' WordPieceTrainer: alphabet, "##" pieces, then
    the most frequent pair while it occurs min_frequency times (here "ab", 4x; "ab"+"##c" 1x)."""
    from tokenizers import BertWordPieceTokenizer

    from spacy_beto.mini import train_vocab

    texts = ["ab ab", "ab abc"]
    ours = train_vocab(texts, vocab_size=100, min_frequency=2)
    assert ours == list(BETO_SPECIAL_TOKENS) + ["a", "b", "c", "##b", "##c", "ab"]
    hf = BertWordPieceTokenizer(strip_accents=False, lowercase=False)
    hf.train_from_iterator(
        texts, vocab_size=100, min_frequency=2, special_tokens=list(BETO_SPECIAL_TOKENS),
        limit_alphabet=500, show_progress=False,
    )  # fmt: skip
    assert ours == [tok for tok, _ in sorted(hf.get_vocab().items(), key=lambda kv: kv[1])]
    assert train_vocab(texts, vocab_size=11, min_frequency=2) == ours[:11]  # stops at the size


def test_vocabulary_is_the_same_whatever_the_hash_seed(tmp_path):
    """tokenizers' own trainer gives a different vocabulary on every run (hash-map order
    breaks ties); ours must not depend on hashing: two processes, two PYTHONHASHSEEDs."""
    import os
    import random

    rng = random.Random(0)
    syllables = ["ma", "pe", "lo", "sa", "ri", "tu", "ca", "ne", "do", "bi", "ño", "és"]
    words = ["".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(400)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "\n".join(" ".join(rng.choices(words, k=12)) for _ in range(300)), encoding="utf8"
    )
    code = (
        "import sys; from spacy_beto.mini import train_vocab; "
        "lines = open(sys.argv[1], encoding='utf8').read().splitlines(); "
        "print('\\n'.join(train_vocab(lines, vocab_size=300, min_frequency=2)))"
    )
    vocabs = [
        subprocess.run(
            [sys.executable, "-c", code, str(corpus)], capture_output=True, text=True,
            check=True, env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.split()
        for seed in ("1", "2")
    ]  # fmt: skip
    assert len(vocabs[0]) == 300 and vocabs[0] == vocabs[1]
