"""Evaluation report: metrics with confusion matrix, Markdown and displaCy HTML."""

import json
import subprocess
import sys

from spacy.tokens import DocBin

from spacy_beto.corpus.convert import CONLL_LABELS, EMOTION_LABELS, ner_doc, textcat_doc


def test_report_cli(trained_nlp, tmp_path, ner_records, emotion_records):
    trained_nlp.to_disk(tmp_path / "model")
    docs = [ner_doc(trained_nlp, r, "n", CONLL_LABELS) for r in ner_records[:8]]
    docs += [textcat_doc(trained_nlp, r, "e", EMOTION_LABELS) for r in emotion_records[:8]]
    DocBin(docs=docs).to_disk(tmp_path / "dev.spacy")
    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "spacy_beto", "report", str(tmp_path / "model"),
           str(tmp_path / "dev.spacy"), "--output", str(out), "--n-samples", "5"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    conf = metrics["confusion"]["textcat"]
    assert conf["labels"] == list(EMOTION_LABELS)
    assert sum(map(sum, conf["matrix"])) == 8  # only the 8 documents with categories
    gold_per_class = [sum(row) for row in conf["matrix"]]
    for label, n in zip(conf["labels"], gold_per_class):
        assert n == sum(1 for r in emotion_records[:8] if r["label"] == label)
    report = (out / "report.md").read_text()
    assert "Confusion matrix" in report and "| PER |" in report.replace("**", "")
    html = (out / "predictions.html").read_text()
    assert html.count("<h4>gold</h4>") == 5 and html.count("<h4>predicted</h4>") == 5


def test_markdown_report_every_classifier():
    from spacy_beto.evaluation.report import markdown_report

    per_type = {"OFF": {"p": 0.5, "r": 1.0, "f": 0.667}, "NO": {"p": 1.0, "r": 0.5, "f": 0.667}}
    scores = {
        "cats_macro_f": 0.4, "cats_micro_f": 0.5, "cats_macro_auc": None,
        "cats_f_per_type": {"joy": {"p": 0.4, "r": 0.4, "f": 0.4}},
        "offensive_macro_f": 0.667, "offensive_micro_f": 0.667, "offensive_macro_auc": 0.7,
        "offensive_f_per_type": per_type,
        "confusion": {"offensive": {"labels": ["NO", "OFF"], "matrix": [[1, 1], [0, 1]]}},
    }  # fmt: skip
    report = markdown_report(scores, title="t")
    assert "## Categories\n\nMacro-F1 **40.00**" in report
    assert "## Categories: `offensive`\n\nMacro-F1 **66.70**" in report
    assert "| OFF | 50.00 | 100.00 | 66.70 |" in report
    assert "## Confusion matrix: `offensive`" in report
