"""Every entry point in setup.cfg resolves in a fresh interpreter, without importing spacy_beto."""

import json
import subprocess
import sys
from importlib.metadata import distribution

GROUPS = ("spacy_factories", "spacy_architectures", "spacy_scorers", "spacy_readers")


def entry_points():
    return [
        (ep.group, ep.name) for ep in distribution("spacy-beto").entry_points if ep.group in GROUPS
    ]


def test_entry_points_declared():
    names = {name for _, name in entry_points()}
    assert {"beto_transformer", "beto_ner", "beto_token_ner", "beto_textcat"} <= names
    assert {
        "spacy-beto.TransformerModel.v1",
        "spacy-beto.WindowMaxout.v1",
        "spacy-beto.textcat_scorer.v1",
    } <= names


def test_entry_points_resolve_in_fresh_interpreter():
    code = f"""
import json, sys
import spacy
from spacy.language import Language
from spacy.util import registry
assert "spacy_beto" not in sys.modules
out = {{}}
for group, name in {entry_points()!r}:
    if group != "spacy_factories":
        out[name] = callable(getattr(registry, group.split("_", 1)[1]).get(name))
# spaCy loads the spacy_factories entry points when a Language is created.
spacy.blank("es")
for group, name in {entry_points()!r}:
    if group == "spacy_factories":
        out[name] = Language.has_factory(name) and callable(registry.factories.get(name))
print(json.dumps(out))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout.strip().splitlines()[-1])
    assert resolved and all(resolved.values()), resolved


def test_add_pipe_without_import_or_config(tiny_model_dir):
    code = f"""
import spacy
nlp = spacy.blank("es")
nlp.add_pipe("beto_transformer", config={{"model": {{"name": {str(tiny_model_dir)!r}}}}})
nlp.add_pipe("beto_ner")
nlp.add_pipe("beto_textcat")
print(nlp.pipe_names, [nlp.get_pipe_meta(n).factory for n in nlp.pipe_names])
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "beto_transformer" in result.stdout and "beto_textcat" in result.stdout
    assert json.dumps(["beto_transformer", "beto_ner", "beto_textcat"]).replace('"', "'") in (
        result.stdout
    )
