"""`python -m spacy_beto quantize`: directories and installed packages in, an int8 pipeline out."""

import shutil
import warnings

import pytest
import spacy
import srsly
from thinc.api import Config
from typer.testing import CliRunner

from spacy_beto.cli import app
from spacy_beto.quantize import is_quantized

TEXTS = ["El Banco de España abrió en Madrid.", "¡Qué alegría!", ""]


def quantize(source, out):
    return CliRunner().invoke(app, ["quantize", str(source), str(out)])


def test_quantize_writes_the_setting_and_loads_without_warnings(saved_pipeline, tmp_path):
    out = tmp_path / "int8"
    result = quantize(saved_pipeline, out)
    assert result.exit_code == 0, result.output
    config = Config().from_disk(out / "config.cfg", interpolate=False)
    assert config["components"]["transformer"]["quantize"] == "int8"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nlp = spacy.load(out)
        docs = list(nlp.pipe(TEXTS))
    assert is_quantized(nlp.get_pipe("transformer"))
    assert [str(w.message) for w in caught if "quantiz" in str(w.message).lower()] == []
    assert all(set(doc.cats) for doc in docs)
    fp32 = spacy.load(saved_pipeline, config={"components": {"transformer": {"quantize": None}}})
    assert not is_quantized(fp32.get_pipe("transformer"))


def test_quantize_accepts_an_installed_package_name(saved_pipeline, tmp_path, monkeypatch):
    """A pipeline package as `spacy package` installs it: a module with load() and a dist-info."""
    meta = srsly.read_json(saved_pipeline / "meta.json")
    name = "es_quantize_test_pkg"
    package = tmp_path / "site" / name
    shutil.copytree(saved_pipeline, package / f"{meta['lang']}_{meta['name']}-{meta['version']}")
    shutil.copy(saved_pipeline / "meta.json", package / "meta.json")
    (package / "__init__.py").write_text(
        "from spacy.util import load_model_from_init_py\n\n"
        "def load(**overrides):\n"
        "    return load_model_from_init_py(__file__, **overrides)\n"
    )
    dist = tmp_path / "site" / f"{name}-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.0\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    result = quantize(name, tmp_path / "int8")
    assert result.exit_code == 0, result.output
    assert is_quantized(spacy.load(tmp_path / "int8").get_pipe("transformer"))


@pytest.mark.parametrize("name", ["es_beto_tfr", "./no/such/pipeline"])
def test_quantize_unknown_pipeline_is_one_line_error(name, tmp_path):
    result = quantize(name, tmp_path / "int8")
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # wasabi wraps the message
    assert "Traceback" not in output
    assert f"Cannot load the pipeline '{name}'" in output
    assert "installed pipeline package nor a pipeline directory" in output
    assert not (tmp_path / "int8").exists()
