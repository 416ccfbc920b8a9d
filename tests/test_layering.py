"""Layering: what an application imports (`import spacy_beto`, a pipeline built from our
factories, `spacy.load` of it) does not import the training / pretraining / evaluation / CLI
tooling. Run in a fresh interpreter, as an application would."""

import json
import subprocess
import sys

# Tooling modules of spacy_beto: none may be imported by the runtime.
TOOLING = (
    "spacy_beto.annotate",
    "spacy_beto.cli",
    "spacy_beto.corpus.convert",
    "spacy_beto.corpus.importers",
    "spacy_beto.corpus.lines",
    "spacy_beto.corpus.texts",
    "spacy_beto.evaluation",
    "spacy_beto.mini",
    "spacy_beto.pretrain",
    "spacy_beto.selection",
)


def run(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def loaded(prefixes=TOOLING) -> str:
    """Python source that evaluates to the loaded modules under `prefixes`."""
    match = "any(m == p or m.startswith(p + '.') for p in " + repr(prefixes) + ")"
    return f"sorted(m for m in sys.modules if {match})"


def test_import_spacy_beto_is_cheap():
    """`import spacy_beto` loads the package and its error types, nothing heavy."""
    out = run(
        "import json, sys\n"
        "import spacy_beto\n"
        "from spacy_beto import BetoConfigError, CorpusError, __version__\n"
        "print(json.dumps({'heavy': [m for m in ('torch', 'spacy', 'transformers') "
        "if m in sys.modules], 'ours': sorted(m for m in sys.modules "
        "if m.startswith('spacy_beto'))}))"
    )
    assert out == {"heavy": [], "ours": ["spacy_beto", "spacy_beto.about", "spacy_beto.errors"]}


def test_lazy_names_resolve():
    out = run(
        "import json, spacy_beto\n"
        "print(json.dumps({n: callable(getattr(spacy_beto, n)) for n in spacy_beto.__all__ "
        "if n != '__version__'}))"
    )
    assert out and all(out.values()), out


def test_runtime_does_not_import_tooling(tiny_model_dir, tmp_path):
    code = f"""
import json, sys
import spacy
import spacy_beto
from spacy_beto import add_to

nlp = spacy.blank("es")
nlp.add_pipe("beto_transformer", config={{"model": {{"name": {str(tiny_model_dir)!r}}}}})
nlp.add_pipe("beto_ner").add_label("PER")
textcat = nlp.add_pipe("beto_textcat")
textcat.add_label("joy")
textcat.add_label("sadness")
nlp.initialize()
nlp.to_disk({str(tmp_path / "nlp")!r})
nlp = spacy.load({str(tmp_path / "nlp")!r})
doc = nlp("Ana vive en Lima.")
print(json.dumps({{"pipes": nlp.pipe_names, "tooling": {loaded()}}}))
"""
    out = run(code)
    assert out["pipes"] == ["beto_transformer", "beto_ner", "beto_textcat"]
    assert out["tooling"] == []


def test_the_tooling_list_is_real():
    """The test above can fail: importing a tooling module shows up in the list."""
    code = f"""
import json, sys
import spacy_beto.corpus.convert, spacy_beto.pretrain
print(json.dumps({loaded()}))
"""
    out = run(code)
    assert {"spacy_beto.corpus.convert", "spacy_beto.pretrain", "spacy_beto.corpus.lines"} <= set(
        out
    )
