"""End to end: `spacy project run all` with tiny settings, then load the installed package."""

import json
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT

PACKAGE = "es_beto_trf_citest"


@pytest.fixture
def project_copy(tmp_path):
    dest = tmp_path / "project"
    dest.mkdir()
    shutil.copy(ROOT / "project.yml", dest)
    shutil.copytree(ROOT / "configs", dest / "configs")
    shutil.copytree(ROOT / "corpus", dest / "corpus")
    yield dest
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", PACKAGE], capture_output=True)


@pytest.mark.slow
def test_all_workflow_packages_and_installs(project_copy):
    tiny = {
        "name": "beto_trf_citest",
        "max_steps": 30,
        "eval_frequency": 15,
        "mini_layers": 1,
        "mini_hidden": 32,
        "mini_heads": 2,
        "mini_vocab_size": 2000,
    }
    overrides = [f"--vars.{k}={v}" for k, v in tiny.items()]
    cmd = [sys.executable, "-m", "spacy", "project", "run", "all", str(project_copy), *overrides]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=project_copy)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    metrics = json.loads((project_copy / "metrics" / "mini.json").read_text())
    assert {"ents_f", "cats_macro_f", "ents_per_type", "cats_f_per_type"} <= set(metrics)
    package_dir = project_copy / "packages" / f"{PACKAGE}-0.1.0"
    readme = (package_dir / "README.md").read_text()
    assert "Entities per type" in readme and "mini BETO-architecture BERT" in readme
    meta = json.loads((package_dir / "meta.json").read_text())
    assert any(req.startswith("spacy-beto") for req in meta["requirements"])
    assert meta["performance"]["ents_f"] == pytest.approx(metrics["ents_f"])

    # A fresh process, offline, loads the installed package by name and plugs its heads into
    # another pipeline (shared transformer, and private copies for a pipeline of its own).
    code = f"""
import json, spacy
from spacy_beto import add_to
nlp = spacy.load("{PACKAGE}")
docs = list(nlp.pipe(["El presidente Gustavo Petro viajó a Madrid.", "¡Qué alegría!"]))
custom = spacy.blank("es")
custom.add_pipe("sentencizer")
custom.add_pipe("entity_ruler").add_patterns([{{"label": "ORG", "pattern": "ONU"}}])
add_to(custom, "{PACKAGE}", components=["ner", "textcat"])
own = spacy.blank("es")
add_to(own, "{PACKAGE}", components=["ner", "textcat"], share_transformer=False)
text = "La ONU se reunió en Ginebra."
print(json.dumps({{"pipe": nlp.pipe_names, "cats": [d.cats for d in docs],
                  "custom": custom.pipe_names, "custom_cats": custom(text).cats,
                  "ref_cats": nlp(text).cats, "own_cats": own(text).cats,
                  "custom_ents": [e.text for e in custom(text).ents]}}))
"""
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd="/", env=env
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["pipe"] == ["transformer", "ner", "textcat", "doc_cleaner"]
    assert all(len(cats) == 7 for cats in out["cats"])
    assert out["custom"] == [
        "sentencizer",
        "entity_ruler",
        "beto_transformer",
        "ner",
        "textcat",
        "doc_cleaner",
    ]
    assert "ONU" in out["custom_ents"]
    for key, value in out["ref_cats"].items():
        assert out["custom_cats"][key] == pytest.approx(value, abs=1e-5)
        assert out["own_cats"][key] == pytest.approx(value, abs=1e-5)
