"""Issue 13, items 3 and 10: all-beto's pre-flight step, the fast offline check of hub names,
and a CLI that starts without importing spaCy, spacy-transformers or torch."""

import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_beto import BetoConfigError, hub
from spacy_beto.cli import app
from spacy_beto.cli.preflight import ASSETS_COMMAND, DATA_FILES, check_data, check_transformer

ROOT = Path(__file__).resolve().parent.parent
BETO = "dccuchile/bert-base-spanish-wwm-cased"


@pytest.fixture
def no_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, so that no test depends on the machine's cache."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


@pytest.fixture
def closed_port() -> int:
    """A local port that nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_data(data_dir: Path) -> None:
    for rel in DATA_FILES:
        (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / rel).write_text("x\n", encoding="utf8")


def test_missing_data_names_the_vars_and_the_readme_command(tmp_path):
    write_data(tmp_path)
    (tmp_path / "conll2002" / "esp.testa").unlink()
    (tmp_path / "emoevent-es" / "dev.tsv").write_text("", encoding="utf8")
    with pytest.raises(BetoConfigError) as err:
        check_data(tmp_path)
    assert str(err.value) == (
        f"2 of the 4 data files are missing in --vars.data_dir '{tmp_path}': "
        f"{tmp_path}/conll2002/esp.testa, {tmp_path}/emoevent-es/dev.tsv (empty). Download "
        f"CoNLL-2002 and EmoEvent into assets/data with "
        f"`.venv/bin/python -m spacy project assets --extra` (internet), or point the workflow at "
        f"a directory that has conll2002/esp.train, conll2002/esp.testa, emoevent-es/train.tsv, "
        f"emoevent-es/dev.tsv with --vars.data_dir DIR."
    )
    assert "weasel assets" not in str(err.value)
    assert ASSETS_COMMAND in Path(ROOT / "README.md").read_text(encoding="utf8")


def test_offline_mode_fails_fast_naming_the_transformer_var(no_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BetoConfigError) as err:
        check_transformer(BETO)
    local = Path(BETO).resolve()
    assert str(err.value) == (
        f"The transformer '{BETO}' is not a local directory ('{local}' does not exist), so it "
        f"would be fetched from the Hugging Face hub, but HF_HUB_OFFLINE=1 is set (offline mode) "
        f"and it is not in the local Hugging Face cache. Set --vars.transformer to a local model "
        f"directory (config.json, weights and vocab.txt, e.g. a copy of BETO saved with "
        f"save_pretrained(), or one built by `python -m spacy_beto build-mini`), or run with "
        f"internet access."
    )


def test_unreachable_hub_fails_fast(no_cache, monkeypatch, closed_port):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    reason = hub.offline_reason(timeout=5)
    assert reason.startswith(f"127.0.0.1:{closed_port} cannot be reached (ConnectionRefusedError")
    with pytest.raises(BetoConfigError, match=r"\[components.transformer.model\] name"):
        hub.check_hub_name(BETO, setting="[components.transformer.model] name")


def test_a_hanging_connection_is_abandoned_after_the_timeout(no_cache, monkeypatch):
    """A DNS lookup or connect that hangs (no network) does not stall the check."""

    def hang(*args, **kwargs):
        time.sleep(3)
        raise OSError("late")

    monkeypatch.setattr(hub.socket, "create_connection", hang)
    assert hub.offline_reason(timeout=0.1) == (
        "huggingface.co:443 did not answer within 0.1 s (no network?)"
    )


def test_reachable_hub_passes(no_cache, monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub.offline_reason(timeout=5) is None
        assert check_transformer(BETO) == "hub name, hub reachable"


def test_cached_hub_name_passes_offline(tmp_path, monkeypatch):
    snapshot = tmp_path / "models--dccuchile--bert-base-spanish-wwm-cased" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}", encoding="utf8")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc", encoding="utf8")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.check_hub_name(BETO, setting="--vars.transformer")
    assert check_transformer(BETO) == "hub name, in the local cache"


def test_local_transformer_directory(tiny_model_dir, tmp_path):
    assert check_transformer(str(tiny_model_dir)) == "local model directory"
    broken = tmp_path / "beto"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "config.json").unlink()
    with pytest.raises(BetoConfigError) as err:
        check_transformer(str(broken))
    assert str(err.value).startswith(
        f"--vars.transformer '{broken}' is not a usable model directory: it has no config.json. "
        f"Set --vars.transformer to a directory with config.json, weights and vocab.txt"
    )


def test_preflight_cli_reports_every_problem(tmp_path, no_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(
        app, ["preflight", "--data-dir", str(tmp_path), "--transformer", BETO]
    )
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "4 of the 4 data files are missing in --vars.data_dir" in out
    assert "Set --vars.transformer to a local model directory" in out
    assert "Traceback" not in result.output
    write_data(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    result = CliRunner().invoke(app, ["preflight", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"Data: 4 files in {tmp_path}" in " ".join(result.output.split())


def test_all_beto_stops_at_the_preflight_offline(tmp_path):
    """`spacy project run all-beto . --vars.data_dir DIR` offline, without data: the pre-flight
    step fails with both messages before anything is converted or trained."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "project.yml", project)
    shutil.copytree(ROOT / "configs", project / "configs")
    env = {"PATH": str(Path(sys.executable).parent), "HF_HUB_OFFLINE": "1"}
    env["HF_HUB_CACHE"] = str(tmp_path / "hf-cache")
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", "all-beto", "."]
        + ["--vars.data_dir", str(tmp_path / "none")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 1, out
    assert "4 of the 4 data files are missing in --vars.data_dir" in out
    assert "HF_HUB_OFFLINE=1 is set (offline mode)" in out
    assert "Set --vars.transformer to a local model directory" in out
    assert "weasel assets" not in out
    assert "convert-beto" not in out and "import conll2002" not in out


HEAVY = ("torch", "spacy", "spacy_transformers", "transformers", "thinc", "rich")
STARTUP = textwrap.dedent(
    """
    import sys
    from spacy_beto.cli import app
    try:
        app(sys.argv[1:], prog_name="python -m spacy_beto")
    except SystemExit:
        pass
    print(sorted(m for m in {heavy!r} if m in sys.modules))
    """
).format(heavy=HEAVY)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["annotate", "--help"],
        ["import", "tsv", "--help"],
        ["preflight", "--help"],
        ["annotate"],
        ["import", "tsv", "in.tsv", "out.spacy", "--no-such-option"],
        ["report", "model", "data", "--output", "out", "--seed", "x"],
    ],
    ids=["help", "annotate-help", "import-help", "preflight-help", "missing", "option", "type"],
)
def test_cli_help_and_argument_errors_do_not_import_heavy_modules(args):
    """Item 10: `--help` and argument errors never import spaCy, torch and co. (start-up time
    is measured in benchmarks/README.md, not here)."""
    proc = subprocess.run(
        [sys.executable, "-c", STARTUP, *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr
