"""`python -m spacy_beto annotate`: order kept, bad lines reported (error records or skipped);
`quantize`."""

import json
import re

import pytest
import spacy
from typer.testing import CliRunner

from spacy_beto.cli import app

GOOD = [
    "El presidente Gustavo Petro viajó a Madrid con la delegación de Ecopetrol.",
    "¡Qué alegría, por fin aprobé el examen!",
    "María López, de la ONU, llegó a Bogotá.",
]


@pytest.fixture(scope="session")
def pipeline_dir(trained_nlp, tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline")
    trained_nlp.to_disk(out)
    return out


def write_input(path):
    lines = [
        json.dumps({"text": GOOD[0], "id": "a"}),  # 1
        "{not json",  # 2
        json.dumps({"id": "no text"}),  # 3
        '{"text": "bad \\ud800 surrogate"}',  # 4: valid JSON, unpaired surrogate
        "",  # blank: ignored
        json.dumps({"text": GOOD[1]}, ensure_ascii=False),  # 6
        json.dumps(["a", "list"]),  # 7
        json.dumps({"text": GOOD[2]}),  # 8
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")


def run(args):
    result = CliRunner().invoke(app, ["annotate", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def test_bad_lines_are_reported_and_skipped(pipeline_dir, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src)
    result = run([pipeline_dir, src, out, "--batch-size", "2", "--no-progress"])
    records = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 6, 7, 8]
    errors = {r["line"]: r["error"] for r in records if "error" in r}
    assert set(errors) == {2, 3, 4, 7}
    assert "invalid JSON" in errors[2] and "surrogate" in errors[4]
    good = [r for r in records if "error" not in r]
    assert [r["text"] for r in good] == GOOD
    assert good[0]["id"] == "a"
    for r in good:
        assert set(r["cats"]) == set(spacy.load(pipeline_dir).get_pipe("textcat").labels)
        for ent in r["ents"]:
            assert r["text"][ent["start"] : ent["end"]] == ent["text"] and ent["label"]
    assert "4 bad line(s) written as error records: lines 2, 3, 4, 7" in result.output
    line_2 = f"{src}:2: invalid JSON: Expecting property name enclosed in double quotes"
    assert line_2 + " (column 2) (error record written)" in result.output
    assert "skipped" not in result.output


def test_output_matches_nlp_pipe_and_skip_invalid(trained_nlp, pipeline_dir, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src)
    result = run([pipeline_dir, src, out, "--skip-invalid", "--no-progress"])
    assert "4 bad line(s) skipped (--skip-invalid): lines 2, 3, 4, 7" in result.output
    assert f"{src}:3: no string field 'text' (skipped)" in result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    assert [r["line"] for r in records] == [1, 6, 8]
    for record, doc in zip(records, trained_nlp.pipe(GOOD)):
        assert record["ents"] == [
            {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text}
            for e in doc.ents
        ]
        assert record["cats"] == pytest.approx(doc.cats, abs=1e-5)


def test_plain_text_with_invalid_utf8(pipeline_dir, tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_bytes(GOOD[0].encode() + b"\n\xff\xfe broken\n" + GOOD[1].encode() + b"\n")
    run([pipeline_dir, src, out, "--no-progress"])
    records = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3]
    assert "invalid UTF-8" in records[1]["error"]
    assert records[2]["text"] == GOOD[1]


def test_n_process_keeps_input_order(pipeline_dir, tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    texts = [f"{GOOD[i % 3]} Número {i}." for i in range(12)]
    src.write_text("\n".join(texts) + "\n", encoding="utf8")
    run([pipeline_dir, src, out, "--n-process", "2", "--batch-size", "3", "--no-progress"])
    records = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    assert [r["text"] for r in records] == texts


def test_misspelled_model_is_a_one_line_error(tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text(GOOD[0] + "\n", encoding="utf8")
    result = CliRunner().invoke(app, ["annotate", "es_beto_tfr", str(src), str(out)])
    assert result.exit_code == 1
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", result.output).split())  # wasabi wraps
    assert text == (
        "✘ Cannot load the pipeline 'es_beto_tfr': it is neither an installed pipeline package "
        "nor a pipeline directory. Check the name, install the package (pip install the "
        "pipeline's wheel, e.g. es_beto_trf) or give a directory written by nlp.to_disk() or "
        "spacy train."
    )
    assert not out.exists()


def test_quantize_cli_writes_int8_pipeline(pipeline_dir, tmp_path):
    from spacy_beto.errors import BetoConfigError
    from spacy_beto.quantize import is_quantized

    out = tmp_path / "int8"
    result = CliRunner().invoke(app, ["quantize", str(pipeline_dir), str(out)])
    assert result.exit_code == 0, result.output
    nlp = spacy.load(out)
    trf = nlp.get_pipe("transformer")
    assert is_quantized(trf)
    assert "quantized" in type(trf.model.transformer.encoder.layer[0].output.dense).__module__
    docs = list(nlp.pipe(GOOD))
    assert all(doc.cats for doc in docs)
    with pytest.raises(BetoConfigError, match="quantize"):
        nlp.to_disk(tmp_path / "again")


def test_annotate_stream_reads_lazily_and_keeps_order(trained_nlp):
    """Input is pulled as nlp.pipe needs it (a huge file is never loaded), and error records
    stay in place between the documents."""
    from spacy_beto.annotate import annotate_stream

    consumed = 0

    def items():
        nonlocal consumed
        for i in range(1, 100_001):
            consumed += 1
            yield (i, None, "bad") if i % 3 == 0 else (i, f"{GOOD[i % 3]} {i}", {"n": i})

    stream = annotate_stream("unused", items(), batch_size=4, nlp=trained_nlp)
    first = [next(stream) for _ in range(9)]
    assert consumed < 100
    assert [r["line"] for r in first] == list(range(1, 10))
    assert [("error" in r) for r in first] == [i % 3 == 0 for i in range(1, 10)]
    assert first[0]["n"] == 1 and first[0]["text"] == f"{GOOD[1]} 1"
