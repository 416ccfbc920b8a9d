"""Corpus converter and importers: valid data converts, bad records name file:line and reason."""

import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_beto import BetoConfigError, CorpusError
from spacy_beto.corpus.convert import convert_jsonl
from spacy_beto.corpus.importers import read_conll2002, read_table

from .conftest import CORPUS


@pytest.fixture
def nlp():
    return spacy.blank("es")


def write_jsonl(path, records):
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records)
        + "\n",
        encoding="utf8",
    )
    return path


@pytest.mark.parametrize("task,name", [("ner", "ner"), ("textcat", "emotion")])
def test_project_corpus_converts(nlp, tmp_path, task, name):
    for split in ("train", "dev"):
        out = tmp_path / f"{split}.spacy"
        report = convert_jsonl(nlp, CORPUS / name / f"{split}.jsonl", out, task=task)
        n_lines = sum(1 for line in (CORPUS / name / f"{split}.jsonl").open() if line.strip())
        assert report.n_docs == n_lines and not report.skipped
        docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
        assert len(docs) == n_lines
        if task == "ner":
            assert all(doc.has_annotation("ENT_IOB") and not doc.cats for doc in docs)
        else:
            assert all(
                not doc.has_annotation("ENT_IOB") and sum(doc.cats.values()) == 1 for doc in docs
            )


def test_project_corpus_sizes():
    def count(path):
        return sum(1 for line in path.open() if line.strip())

    assert count(CORPUS / "ner/train.jsonl") + count(CORPUS / "ner/dev.jsonl") >= 400
    assert count(CORPUS / "emotion/train.jsonl") + count(CORPUS / "emotion/dev.jsonl") >= 400


GOOD = {"text": "Ana vive en Lima.", "entities": [[0, 3, "PER"], [12, 16, "LOC"]]}


@pytest.mark.parametrize(
    "bad,message",
    [
        ('{"text": "roto"', "invalid JSON"),
        ({"text": "", "entities": []}, "non-empty string"),
        ({"text": "Ana vive en Lima.", "entities": [[0, 30, "PER"]]}, "outside the text"),
        ({"text": "Ana vive en Lima.", "entities": [[0, 2, "PER"]]}, "token boundaries"),
        ({"text": "Ana vive en Lima.", "entities": [[0, 3, "PERSON"]]}, "unknown entity label"),
        ({"text": "Ana vive en Lima.", "entities": [[0, 3, "PER"], [0, 8, "PER"]]}, "overlaps"),
        (
            {"text": "Ana vive en Lima.", "entities": [[0, "3", "PER"]]},
            "not \\[start, end, label\\]",
        ),
    ],
)
def test_ner_errors_name_file_and_line(nlp, tmp_path, bad, message):
    path = write_jsonl(tmp_path / "ner.jsonl", [GOOD, GOOD, bad])
    with pytest.raises(CorpusError, match=message) as err:
        convert_jsonl(nlp, path, tmp_path / "out.spacy", task="ner")
    assert f"{path}:3:" in str(err.value)


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"text": "Qué día"}, "missing field 'label'"),
        ({"text": "Qué día", "label": "happy"}, "unknown label"),
        ({"text": "   ", "label": "joy"}, "non-empty string"),
    ],
)
def test_textcat_errors_name_file_and_line(nlp, tmp_path, bad, message):
    path = write_jsonl(tmp_path / "emo.jsonl", [{"text": "Bien", "label": "joy"}, bad])
    with pytest.raises(CorpusError, match=message) as err:
        convert_jsonl(nlp, path, tmp_path / "out.spacy", task="textcat")
    assert f"{path}:2:" in str(err.value)


def test_skip_invalid_counts_and_reports(nlp, tmp_path):
    path = write_jsonl(
        tmp_path / "ner.jsonl", [GOOD, {"text": "x", "entities": [[0, 9, "PER"]]}, GOOD]
    )
    report = convert_jsonl(nlp, path, tmp_path / "out.spacy", task="ner", skip_invalid=True)
    assert report.n_docs == 2
    assert len(report.skipped) == 1 and f"{path}:2:" in report.skipped[0]


CONLL = (Path(__file__).parent / "data" / "conll2002-sample.txt").read_text(encoding="utf8")


def test_conll2002_import_keeps_sentences_and_entities(tmp_path):
    path = tmp_path / "esp.train"
    path.write_text(CONLL, encoding="utf8")
    docs, report = read_conll2002(path, n_sents=10)
    assert len(docs) == 1
    doc = docs[0]
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("Real Madrid", "ORG"),
        ("Sevilla", "LOC"),
        ("Ana", "PER"),
    ]
    assert [s.text for s in doc.sents] == ["El Real Madrid ganó en Sevilla .", "Ana llegó ."]
    assert report.label_counts == {"ORG": 1, "LOC": 1, "PER": 1}


@pytest.mark.parametrize(
    "bad_line,message",
    [
        ("Ana NC", "expected 3 columns, got 2"),
        ("Ana NC I-PER", "unknown IOB transition O -> I-PER"),
        ("Ana NC B-PERSON", "unknown tag 'B-PERSON'"),
    ],
)
def test_conll2002_errors(tmp_path, bad_line, message):
    path = tmp_path / "esp.train"
    path.write_text(CONLL + "\n" + bad_line + "\n", encoding="utf8")
    with pytest.raises(CorpusError, match=message) as err:
        read_conll2002(path)
    assert f"{path}:13" in str(err.value)
    docs, report = read_conll2002(path, skip_invalid=True)
    assert len(report.skipped) == 1 and len(list(docs[0].sents)) == 2


def test_table_import_and_errors(tmp_path):
    path = tmp_path / "emo.tsv"
    path.write_text(
        "id\ttweet\temotion\n1\t¡Qué alegría!\tjoy\n2\tQué pena\tsadness\n3\t\tjoy\n4\tsolo dos\n",
        encoding="utf8",
    )
    with pytest.raises(CorpusError, match=f"{path}:4: empty text"):
        read_table(path, text_col="tweet", label_col="emotion")
    docs, report = read_table(path, text_col="tweet", label_col="emotion", skip_invalid=True)
    assert [d.cats for d in docs] == [{"joy": 1.0, "sadness": 0.0}, {"joy": 0.0, "sadness": 1.0}]
    assert len(report.skipped) == 2 and "expected 3 columns, got 2" in report.skipped[1]
    with pytest.raises(CorpusError, match="no column 'text'"):
        read_table(path, text_col="text", label_col="emotion")


EMO_OFF = (
    "id\tevent\ttweet\toffensive\temotion\n"
    "1\tA\t¡Qué alegría!\tNO\tjoy\n"
    "2\tA\tQué asco de gente\tOFF\tdisgust\n"
    "3\tB\tQué pena\tNO\tsadness\n"
)


def test_table_two_label_columns(tmp_path):
    path = tmp_path / "emoevent.tsv"
    path.write_text(EMO_OFF, encoding="utf8")
    docs, report = read_table(path, text_col="tweet", label_col=["emotion", "offensive"])
    assert docs[1].cats == {
        "disgust": 1.0, "joy": 0.0, "sadness": 0.0, "NO": 0.0, "OFF": 1.0
    }  # fmt: skip
    assert report.column_counts == {
        "emotion": {"joy": 1, "disgust": 1, "sadness": 1},
        "offensive": {"NO": 2, "OFF": 1},
    }
    # --labels applies to the first column only
    labels = ["joy", "disgust", "sadness", "others"]
    docs, _ = read_table(path, text_col="tweet", label_col=["emotion", "offensive"], labels=labels)
    assert list(docs[0].cats) == labels + ["NO", "OFF"]
    # a single column keeps one group of categories
    docs, report = read_table(path, text_col="tweet", label_col=["emotion"])
    assert set(docs[0].cats) == {"joy", "disgust", "sadness"}
    assert report.label_counts == {"joy": 1, "disgust": 1, "sadness": 1}


def test_table_label_columns_must_not_share_labels(tmp_path):
    path = tmp_path / "emoevent.tsv"
    path.write_text(EMO_OFF + "4\tB\tNo sé\tNO\tNO\n", encoding="utf8")
    with pytest.raises(CorpusError, match="columns 'emotion' and 'offensive' share the label 'NO'"):
        read_table(path, text_col="tweet", label_col=["emotion", "offensive"])
    with pytest.raises(CorpusError, match="label column 'emotion' is given more than once"):
        read_table(path, text_col="tweet", label_col=["emotion", "emotion"])


def test_table_empty_second_label_and_skip_invalid(tmp_path):
    path = tmp_path / "emoevent.tsv"
    path.write_text(EMO_OFF + "4\tB\tNo sé\t\tothers\n5\tB\tBien\tNO\tjoy\n", encoding="utf8")
    with pytest.raises(CorpusError, match=f"{path}:5: empty label in column 'offensive'"):
        read_table(path, text_col="tweet", label_col=["emotion", "offensive"])
    docs, report = read_table(
        path, text_col="tweet", label_col=["emotion", "offensive"], skip_invalid=True
    )
    assert len(docs) == 4 and len(report.skipped) == 1
    assert report.column_counts["offensive"] == {"NO": 3, "OFF": 1}


def test_table_cli_two_label_columns(tmp_path):
    from typer.testing import CliRunner

    from spacy_beto.cli import app

    path = tmp_path / "emoevent.tsv"
    path.write_text(EMO_OFF + "4\tB\tNo sé\t\tothers\n", encoding="utf8")
    out = tmp_path / "out.spacy"
    args = ["import", "tsv", str(path), str(out), "--text-col", "tweet", "--label-col",
            "emotion", "--label-col", "offensive", "--skip-invalid"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "3 docs (emotion: disgust 1, joy 1, sadness 1; offensive: NO 2, OFF 1)" in output
    assert "Skipped 1 invalid row(s)" in output and "empty label in column" in output
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("es").vocab))
    assert docs[1].cats["OFF"] == 1.0 and docs[1].cats["disgust"] == 1.0


HINT = (
    ". Fix it, or pass --skip-invalid (skip_invalid=True) to skip such lines, counted and listed."
)


def test_conll2002_odd_first_line_is_reported_at_line_1(tmp_path):
    """Issue 13 item 7: the expected column count is the file's usual one, not line 1's."""
    path = tmp_path / "esp.train"
    path.write_text("Ana NC\n" + CONLL, encoding="utf8")
    with pytest.raises(CorpusError) as err:
        read_conll2002(path)
    assert str(err.value) == f"{path}:1: expected 3 columns, got 2" + HINT
    docs, report = read_conll2002(path, skip_invalid=True)
    assert report.n_skipped == 1 and report.skipped == [f"{path}:1: expected 3 columns, got 2"]
    assert [s.text for s in docs[0].sents] == ["Ana llegó ."]


def test_conll2002_invalid_utf8_line_names_file_and_line(tmp_path):
    path = tmp_path / "esp.train"
    path.write_bytes(CONLL.encode("utf8") + b"\nEspa\xf1a NC B-LOC\n")
    with pytest.raises(CorpusError) as err:
        read_conll2002(path)
    assert str(err.value).startswith(f"{path}:13: invalid UTF-8 (invalid continuation byte")
    _, report = read_conll2002(path, skip_invalid=True)
    assert report.n_skipped == 1


def test_convert_skips_unreadable_lines_too(nlp, tmp_path):
    """Invalid JSON follows the same policy as invalid records: raise, or skip and count."""
    path = write_jsonl(tmp_path / "ner.jsonl", [GOOD, '{"text": "roto"', {"texto": "x"}, GOOD])
    with pytest.raises(CorpusError) as err:
        convert_jsonl(nlp, path, tmp_path / "out.spacy", task="ner")
    assert str(err.value).startswith(f"{path}:2: invalid JSON: ") and str(err.value).endswith(HINT)
    report = convert_jsonl(nlp, path, tmp_path / "out.spacy", task="ner", skip_invalid=True)
    assert report.n_docs == 2 and report.n_skipped == 2
    assert (
        report.policy.summary() == "Skipped 2 invalid record(s) (invalid JSON: 1, no text field: 1)"
    )


def test_record_errors_suggest_skip_invalid(nlp, tmp_path):
    path = write_jsonl(tmp_path / "emo.jsonl", [{"text": "Qué día", "label": "happy"}])
    with pytest.raises(CorpusError) as err:
        convert_jsonl(nlp, path, tmp_path / "out.spacy", task="textcat")
    assert str(err.value) == (
        f"{path}:1: unknown label(s) ['happy']; known labels: anger, disgust, fear, joy, "
        f"sadness, surprise, others" + HINT
    )


def test_cli_labels_option_is_parsed_once_for_all_commands(tmp_path):
    from typer.testing import CliRunner

    from spacy_beto.cli import app
    from spacy_beto.cli._util import split_labels

    assert split_labels(" PER, ORG ,,LOC ") == ["PER", "ORG", "LOC"] and split_labels(None) is None
    with pytest.raises(BetoConfigError, match="--labels: label 'PER' is given twice"):
        split_labels("PER,PER")
    path = write_jsonl(tmp_path / "emo.jsonl", [{"text": "Bien", "label": "joy"}])
    for args in (
        ["convert-corpus", str(path), str(tmp_path / "o.spacy"), "-t", "textcat", "--labels", ","],
        ["import", "conll2002", str(path), str(tmp_path / "o.spacy"), "--labels", " , "],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1
        output = " ".join(result.output.split())
        assert "--labels: no label in" in output and "Traceback" not in output
    args = ["convert-corpus", str(path), str(tmp_path / "o.spacy"), "-t", "textcat"]
    result = CliRunner().invoke(app, [*args, "--labels", "joy, sadness"])
    assert result.exit_code == 0, result.output
    assert "1 docs (joy 1)" in " ".join(result.output.split())
