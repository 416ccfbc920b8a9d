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
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(BetoConfigError, match="input files are empty"):
        build_mini(tmp_path / "m", texts=[empty])
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "hola"}\n{"texto": "hola"}\n')
    with pytest.raises(CorpusError, match="broken.jsonl:2: no string field 'text'"):
        build_mini(tmp_path / "m", texts=[broken])
    with pytest.raises(CorpusError, match="no such file"):
        build_mini(tmp_path / "m", texts=[tmp_path / "nope.txt"])


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
