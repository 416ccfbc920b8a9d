"""Issue 16, items 4-5: literature-comparable test evaluation.

EmoEvent's test split defect (a cell holding merged records, labels shifted after it) is
reproduced by the synthetic files in tests/data (written for these tests, not EmoEvent data);
the test evaluation runs on the tiny fixture pipeline and tiny test files.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_beto import CorpusError
from spacy_beto.cli import app
from spacy_beto.corpus.emoevent import normalise, restore_labels
from spacy_beto.corpus.importers import read_table
from spacy_beto.heads import weighted_scores

from .conftest import ROOT

DATA = ROOT / "tests" / "data"
DEFECT = DATA / "emoevent-test-defect.tsv"
FULL = DATA / "emoevent-full.csv"
CONLL_TEST = (DATA / "conll2002-sample.txt").read_text(encoding="utf8")


def run_cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result, " ".join(result.output.split())


def test_importer_reports_a_cell_holding_merged_records():
    with pytest.raises(CorpusError) as err:
        read_table(DEFECT, text_col="tweet", label_col="emotion")
    message = str(err.value)
    assert message.startswith(f"{DEFECT}:5: the 'tweet' cell holds 3 records")
    assert "7198aff2-cfd0-5ef3-adf8-32d465867e1d" in message and "--skip-invalid" in message
    docs, report = read_table(DEFECT, text_col="tweet", label_col="emotion", skip_invalid=True)
    assert len(docs) == 10 and report.policy.counts == {"merged records": 1}
    assert report.skipped[0].startswith(f"{DEFECT}:5:")


def test_normalise_matches_the_full_corpus_conventions():
    split = "¿Cómo pudo pasar algo así #NotreDame ? Una tragedia. https://t.co/x1 @ana"
    full = "¿Cómo pudo pasar algo así HASHTAG? Una tragedia.  URL USER"
    assert (
        normalise(split)
        == normalise(full)
        == ("cómo pudo pasar algo así hashtag una tragedia url user")
    )


def test_restore_labels_splits_merged_cells_and_reports_what_is_left_out(tmp_path):
    out = tmp_path / "restored.tsv"
    with pytest.raises(CorpusError, match="only 11 of 13 records match"):
        restore_labels(DEFECT, FULL, out)  # 85 % < the default 90 %
    report = restore_labels(DEFECT, FULL, out, min_matched=0.8)
    assert (report.n_rows, report.n_matched, report.n_unmatched, report.n_ambiguous) == (
        13,
        11,
        1,
        1,
    )
    assert report.n_merged_cells == 1 and report.n_split_records == 2
    # the shifted rows after the merged cell, and its last record (the row's label cells)
    assert report.n_changed == 6
    assert "Este tuit no está" in report.unmatched[0]
    assert "has labels joy, sadness" in report.ambiguous[0]
    # every written label is the full corpus's label of that tweet
    reference = {}
    for line in FULL.read_text(encoding="utf8").splitlines()[1:]:
        _, text, emotion, _ = line.split("\t")
        reference.setdefault(normalise(text.strip('"').replace('""', '"')), set()).add(emotion)
    docs, _ = read_table(out, text_col="tweet", label_col="emotion")
    assert len(docs) == 11
    for doc in docs:
        assert {max(doc.cats, key=doc.cats.get)} == reference[normalise(doc.text)]
    rows = [line.split("\t") for line in out.read_text(encoding="utf8").splitlines()]
    ids = [row[0] for row in rows[1:]]
    assert "7198aff2-cfd0-5ef3-adf8-32d465867e1d" in ids  # a record recovered from the cell
    merged_last = rows[ids.index("d12bb935-bf30-5b59-9874-5b7e688cb535") + 1]
    assert merged_last[1:4] == [
        "Elecciones", "Da miedo lo que puede pasar mañana en las urnas #28A", "NO"
    ]  # fmt: skip


def test_restore_labels_cli_counts(tmp_path):
    out = tmp_path / "restored.tsv"
    report = tmp_path / "restore.json"
    args = ["restore-labels", DEFECT, FULL, out, "--report", report, "--min-matched", "0.8"]
    result, output = run_cli(*args)
    assert result.exit_code == 0, result.output
    assert "11 of 13 records matched" in output and "Left out 2 record(s)" in output
    assert "1 cell(s) held merged records: split into 3 records" in output
    assert json.loads(report.read_text())["left_out"] == 2
    result, output = run_cli("restore-labels", DEFECT, FULL, out)
    assert result.exit_code == 1 and "only 11 of 13 records match" in output
    assert "Traceback" not in output


def test_weighted_f_and_accuracy_from_the_confusion_matrix():
    # gold a: 3 (2 right), gold b: 1 (right), predicted a: 2, b: 2
    scores = weighted_scores({"labels": ["a", "b"], "matrix": [[2, 1], [0, 1]]})
    f_a, f_b = 2 * 2 / (3 + 2), 2 * 1 / (1 + 2)
    assert scores["weighted_f"] == pytest.approx(0.75 * f_a + 0.25 * f_b)
    assert scores["accuracy"] == pytest.approx(0.75)
    assert weighted_scores({"labels": ["a"], "matrix": [[0]]}) == {}


def test_report_shows_weighted_f_and_accuracy(trained_nlp, ner_records, emotion_records):
    from spacy_beto.evaluation.report import evaluate_pipeline, markdown_report
    from spacy_beto.heads import pipeline_heads

    from .conftest import make_examples

    examples = make_examples(trained_nlp, ner_records[:5], emotion_records[:12])
    scores = evaluate_pipeline(trained_nlp, examples)
    expected = weighted_scores(scores["confusion"]["textcat"])
    assert scores["cats_weighted_f"] == pytest.approx(expected["weighted_f"])
    assert scores["cats_accuracy"] == pytest.approx(expected["accuracy"])
    matrix = scores["confusion"]["textcat"]["matrix"]
    assert sum(map(sum, matrix)) == 12
    report = markdown_report(scores, title="t", heads=pipeline_heads(trained_nlp))
    assert f"weighted-F1 {scores['cats_weighted_f'] * 100:.2f}, accuracy" in report


@pytest.fixture
def project_with_test_data(tmp_path, saved_pipeline):
    """A project copy whose data_dir holds tiny test files and whose training/beto/seeds.json
    lists two runs (the fixture pipeline twice: equal scores, std 0)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "project.yml", project)
    shutil.copytree(ROOT / "configs", project / "configs")
    data = tmp_path / "data"
    (data / "conll2002").mkdir(parents=True)
    (data / "emoevent-es").mkdir()
    (data / "conll2002" / "esp.testb").write_text(CONLL_TEST, encoding="utf8")
    shutil.copy(DEFECT, data / "emoevent-es" / "test.tsv")
    shutil.copy(FULL, data / "emoevent-es" / "emoevent_es.csv")
    runs = {"runs": {"0": str(saved_pipeline), "1": str(saved_pipeline)}}
    (project / "training" / "beto").mkdir(parents=True)
    (project / "training" / "beto" / "seeds.json").write_text(json.dumps(runs))
    return project, data


def test_all_beto_test_evaluation_steps_on_a_tiny_model(project_with_test_data, saved_pipeline):
    """convert-beto-test and evaluate-beto-test as `spacy project run` runs them, then the model
    card with the test section."""
    project, data = project_with_test_data
    for step in ("convert-beto-test", "evaluate-beto-test"):
        cmd = [sys.executable, "-m", "spacy", "project", "run", step, ".",
               "--vars.data_dir", str(data)]  # fmt: skip
        if step == "convert-beto-test":  # the tiny file matches 85 %: accept it here
            text = (project / "project.yml").read_text()
            text = text.replace("--report metrics/", "--min-matched 0.8 --report metrics/")
            (project / "project.yml").write_text(text)
        proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    restore = json.loads((project / "metrics" / "emoevent-test-restore.json").read_text())
    assert (restore["matched"], restore["left_out"]) == (11, 2)
    summary = json.loads((project / "metrics" / "beto-test.json").read_text())
    assert summary["seeds"] == ["0", "1"]
    stats = summary["mean_std"]
    for key in ("ents_f", "ents_per_type.ORG.f", "cats_macro_f", "cats_weighted_f",
                "cats_accuracy"):  # fmt: skip
        assert stats[key]["n"] == 2 and stats[key]["std"] == pytest.approx(0.0)
        assert stats[key]["mean"] == pytest.approx(summary["runs"]["0"][key])
    # the same numbers as a direct evaluation of the pipeline on the converted test files
    from spacy.util import registry

    from spacy_beto.annotate import load_pipeline
    from spacy_beto.evaluation.report import evaluate_pipeline

    nlp = load_pipeline(str(saved_pipeline))
    read = registry.readers.get("spacy-beto.Corpus.v1")
    examples = list(read(project / "data/beto/test", gold_preproc=False)(nlp))
    assert sum(1 for eg in examples if eg.reference.cats) == 11
    direct = evaluate_pipeline(nlp, examples)
    assert stats["cats_accuracy"]["mean"] == pytest.approx(direct["cats_accuracy"])
    assert stats["ents_f"]["mean"] == pytest.approx(direct["ents_f"])
    markdown = (project / "metrics" / "beto-test.md").read_text()
    assert "| **all (micro)** |" in markdown and "± 0.00" in markdown
    assert "88.43" in markdown and "https://github.com/dccuchile/beto" in markdown
    assert "11 of 13 test records matched" in markdown
    # the model card: dev metrics plus the test section
    (project / "metrics" / "beto.json").write_text(json.dumps(direct))
    result, output = run_cli(
        "model-card", project / "metrics" / "beto.json", project / "configs" / "card-beto.json",
        project / "meta.json", "--transformer", "tiny", "--test-metrics",
        project / "metrics" / "beto-test.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    notes = json.loads((project / "meta.json").read_text())["notes"]
    assert "### Test splits" in notes and "| RoBERTuito | 56.00 |" in notes
    assert f"{stats['cats_macro_f']['mean'] * 100:.2f} ± 0.00" in notes


def test_test_eval_errors(tmp_path):
    result, output = run_cli("test-eval", tmp_path / "seeds.json", "--data", tmp_path,
                             "--output", tmp_path / "x.json")  # fmt: skip
    assert result.exit_code == 1 and "seeds.json: no such file" in output
    result, output = run_cli("test-eval", tmp_path, "--data", tmp_path,
                             "--output", tmp_path / "x.json")  # fmt: skip
    assert result.exit_code == 1 and "not a saved pipeline (no config.cfg)" in output


def test_parse_seeds():
    from spacy_beto import BetoConfigError
    from spacy_beto.cli.train_seeds import parse_seeds

    assert parse_seeds("0 1 2") == parse_seeds("0,1,2") == [0, 1, 2]
    with pytest.raises(BetoConfigError, match="--seeds"):
        parse_seeds("0 x")
    with pytest.raises(BetoConfigError, match="twice"):
        parse_seeds("1 1")


@pytest.mark.slow
def test_train_seeds_trains_each_seed(tmp_path, tiny_model_dir):
    corpus = ROOT / "corpus"
    data = tmp_path / "data"
    for task, name in (("ner", "ner"), ("textcat", "emotion")):
        for split in ("train", "dev"):
            run_cli("convert-corpus", corpus / name / f"{split}.jsonl",
                    data / split / f"{name}.spacy", "--task", task)  # fmt: skip
    out = tmp_path / "training"
    cmd = [sys.executable, "-m", "spacy_beto", "train-seeds", str(ROOT / "configs" / "mini.cfg"),
           "--output", str(out), "--seeds", "3,4", "--paths.train_ner",
           str(data / "train" / "ner.spacy"), "--paths.train_textcat",
           str(data / "train" / "emotion.spacy"), "--paths.dev", str(data / "dev"),
           "--paths.transformer", str(tiny_model_dir), "--training.max_steps", "4",
           "--training.eval_frequency", "2"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = json.loads((out / "seeds.json").read_text())["runs"]
    assert runs == {"3": str(out / "model-best"), "4": str(out / "seed-4" / "model-best")}
    for path in runs.values():
        assert (Path(path) / "config.cfg").is_file()
    import spacy

    config = spacy.util.load_config(out / "seed-4" / "model-best" / "config.cfg")
    assert config["system"]["seed"] == 4
