"""`annotate_ray` on a local 2-CPU Ray started here: same output as `nlp.pipe`, exactly once
with a killed worker, resume without rewriting, bad input reported per file and line."""

import json
import os
from pathlib import Path
from typing import Dict, List

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
import spacy
from typer.testing import CliRunner

from spacy_beto.cli import app
from spacy_beto.distributed import annotate_ray
from spacy_beto.errors import BetoConfigError, CorpusError

from .conftest import CORPUS
from .test_robustness import BAD_INPUTS

# Hostile inputs, but the 200,000-character one cut to 20,000 to keep the test fast.
HOSTILE = {name: text[:20_000] for name, text in BAD_INPUTS.items()}


@pytest.fixture(scope="module")
def local_ray():
    """A fresh local Ray on this machine only (never an existing cluster), 2 CPUs."""
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def texts() -> List[str]:
    """~300 mixed texts: corpus NER sentences and tweets, plus the hostile inputs, twice."""
    out: List[str] = []
    for task in ("ner", "emotion"):
        with (CORPUS / task / "dev.jsonl").open(encoding="utf8") as fileh:
            out.extend(json.loads(line)["text"] for line, _ in zip(fileh, range(130)))
    hostile = list(HOSTILE.values())
    return hostile + out[:150] + hostile + out[150:]


def expected(nlp, texts: List[str]) -> List[Dict]:
    return [
        {
            "ents": [(e.start_char, e.end_char, e.label_, e.text) for e in doc.ents],
            "cats": dict(doc.cats),
        }
        for doc in nlp.pipe(texts, batch_size=16)
    ]


def read_output(out_dir: Path) -> List[Dict]:
    """All output records, shards in name order, as dicts (cats as a dict)."""
    rows: List[Dict] = []
    for path in sorted(out_dir.glob("part-*")):
        if path.suffix == ".parquet":
            for row in pq.read_table(path).to_pylist():
                rows.append({**row, "cats": dict(row["cats"])})
        else:
            rows.extend(json.loads(line) for line in path.read_text(encoding="utf8").splitlines())
    return rows


def assert_same(rows: List[Dict], want: List[Dict]) -> None:
    assert len(rows) == len(want)
    for row, exp in zip(rows, want):
        assert row["error"] is None, row
        assert [(e["start"], e["end"], e["label"], e["text"]) for e in row["ents"]] == exp["ents"]
        assert row["cats"].keys() == exp["cats"].keys()
        for label, score in exp["cats"].items():
            assert row["cats"][label] == pytest.approx(score, abs=1e-5)


def write_jsonl(path: Path, records: List[Dict]) -> None:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf8"
    )


def test_same_entities_and_categories_as_nlp_pipe(local_ray, saved_pipeline, texts, tmp_path):
    """JSONL (half with ids), plain text and Parquet inputs, 2 actors, Parquet output."""
    src = tmp_path / "in"
    src.mkdir()
    jsonl = [
        {"text": t, **({"id": f"doc-{i}"} if i % 2 else {}), "src": "x"}
        for i, t in enumerate(texts[:200])
    ]
    write_jsonl(src / "a.jsonl", jsonl)
    plain = [t for t in texts[200:260] if t.strip() and "\n" not in t and "\x0c" not in t]
    (src / "b.txt").write_text("\n".join(plain) + "\n", encoding="utf8")
    table = pa.table({"text": texts[260:], "id": [f"pq-{i}" for i in range(len(texts) - 260)]})
    pq.write_table(table, src / "c.parquet", row_group_size=7)
    (src / "notes.md").write_text("not an input")

    out = tmp_path / "out"
    summary = annotate_ray(
        saved_pipeline, src, out, shard_size=23, batch_size=8, num_workers=2, ray_progress=False
    )
    all_texts = texts[:200] + plain + texts[260:]
    assert summary.n_records == summary.n_read == summary.n_written == len(all_texts)
    assert summary.n_failed == 0 and summary.n_shards_skipped == 0
    assert summary.files_left_out == [str(src / "notes.md")]
    assert summary.n_words == sum(len(t.split()) for t in all_texts)
    rows = read_output(out)
    assert [r["text"] for r in rows] == all_texts  # input order within and across shards
    assert_same(rows, expected(spacy.load(saved_pipeline), all_texts))
    # ids: from the input where given, else the global position
    want_ids = [r.get("id", str(i)) for i, r in enumerate(jsonl)]
    want_ids += [str(200 + i) for i in range(len(plain))]
    want_ids += [f"pq-{i}" for i in range(len(texts) - 260)]
    assert [r["id"] for r in rows] == want_ids
    assert json.loads(rows[0]["meta"]) == {"src": "x"}
    assert [r["line"] for r in rows if r["source"].endswith("b.txt")] == list(
        range(1, len(plain) + 1)
    )
    # pandas reads the directory (manifest and _tmp are ignored)
    frame = pq.read_table(out).to_pandas()
    assert len(frame) == len(all_texts) and set(frame["id"]) == set(want_ids)


KILLER = """
import os
from pathlib import Path
from spacy.language import Language

@Language.factory("die_once", default_config={"marker": ""})
def make_die_once(nlp, name, marker):
    def die_once(doc):
        if "MATAR" in doc.text and not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()))
            os._exit(1)  # the worker process dies mid-batch, nothing written
        return doc
    return die_once
"""


def test_killed_worker_is_retried_and_nothing_is_duplicated(
    local_ray, saved_pipeline, texts, tmp_path
):
    code = tmp_path / "killer.py"
    code.write_text(KILLER)
    marker = tmp_path / "killed"
    spacy.util.import_file("killer_code", code)
    nlp = spacy.load(saved_pipeline)
    nlp.add_pipe("die_once", config={"marker": str(marker)}, first=True)
    model = tmp_path / "model"
    nlp.to_disk(model)
    records = [{"id": f"r{i}", "text": t} for i, t in enumerate(texts[:120])]
    records[50]["text"] = "MATAR al proceso aquí"
    write_jsonl(tmp_path / "in.jsonl", records)

    out = tmp_path / "out"
    summary = annotate_ray(
        model,
        tmp_path / "in.jsonl",
        out,
        output_format="jsonl",
        shard_size=20,
        batch_size=8,
        num_workers=2,
        code=code,
        ray_progress=False,
    )
    assert marker.exists()  # a worker really died
    assert summary.n_read == summary.n_written == len(records) and summary.n_failed == 0
    rows = read_output(out)
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in records)  # each id once
    assert [r["text"] for r in rows] == [r["text"] for r in records]
    assert not list((out).glob("_tmp/*")) and not (out / "_tmp").exists()
    want = expected(spacy.load(saved_pipeline), [r["text"] for r in records])
    assert_same(rows, want)


def test_resume_skips_written_shards(local_ray, saved_pipeline, texts, tmp_path):
    records = [{"text": t} for t in texts[:100]]
    write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    options = dict(output_format="jsonl", shard_size=10, batch_size=8, ray_progress=False)

    first = annotate_ray(saved_pipeline, tmp_path / "in.jsonl", out, max_shards=4, **options)
    assert first.n_shards == 10 and first.n_shards_done == 4 and first.n_shards_left == 6
    done = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")}
    assert len(done) == 4
    (out / "_tmp").mkdir()
    (out / "_tmp" / "part-00000-00009.dead.jsonl").write_text("half a shard\n")  # a killed run

    second = annotate_ray(saved_pipeline, tmp_path / "in.jsonl", out, **options)
    assert second.n_shards_skipped == 4 and second.n_shards_done == 6
    assert second.n_read == second.n_written == 60
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*") if p.name in done} == done
    rows = read_output(out)
    assert [r["id"] for r in rows] == [str(i) for i in range(100)]
    assert_same(rows, expected(spacy.load(saved_pipeline), [r["text"] for r in records]))

    third = annotate_ray(saved_pipeline, tmp_path / "in.jsonl", out, **options)
    assert third.n_shards_skipped == 10 and third.n_read == 0
    with pytest.raises(BetoConfigError, match="shard_size"):
        annotate_ray(saved_pipeline, tmp_path / "in.jsonl", out, **{**options, "shard_size": 7})


def test_bad_input_is_reported_per_file_and_line(local_ray, saved_pipeline, tmp_path):
    with pytest.raises(BetoConfigError, match="missing.jsonl: input path not found"):
        annotate_ray(saved_pipeline, tmp_path / "missing.jsonl", tmp_path / "o1")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(CorpusError, match="broken.parquet: cannot read this file"):
        annotate_ray(saved_pipeline, tmp_path / "broken.parquet", tmp_path / "o2")
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "nocol.parquet")
    with pytest.raises(CorpusError, match="nocol.parquet: no column 'text'"):
        annotate_ray(saved_pipeline, tmp_path / "nocol.parquet", tmp_path / "o3")

    src = tmp_path / "in"
    src.mkdir()
    lines = [
        json.dumps({"text": "Ana vive en Madrid.", "id": 7}).encode(),  # 1
        b"{not json",  # 2
        json.dumps({"id": "sin texto"}).encode(),  # 3
        b'{"text": "mal \\ud800"}',  # 4
        b"",  # 5: blank, not a record
        '{"text": "Caf\xe9 en Lima"}'.encode("latin-1"),  # 6: not UTF-8
        b'["a", "list"]',  # 7
        json.dumps({"text": "Juan en Bogotá."}, ensure_ascii=False).encode(),  # 8
    ]
    (src / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (src / "b.txt").write_bytes(b"Hola Madrid\n\xff\xfe roto\nAdios Lima\n")
    pq.write_table(pa.table({"text": ["Hola", None]}), src / "c.parquet")
    out = tmp_path / "out"
    summary = annotate_ray(saved_pipeline, src, out, shard_size=3, ray_progress=False)

    assert summary.n_read == summary.n_written == 7 + 3 + 2
    assert summary.n_failed == 7
    assert summary.failed_per_file == {
        str(src / "a.jsonl"): 5,
        str(src / "b.txt"): 1,
        str(src / "c.parquet"): 1,
    }
    where = {(Path(f).name, line): why for f, line, why in summary.error_examples}
    assert set(where) == {("a.jsonl", n) for n in (2, 3, 4, 6, 7)} | {
        ("b.txt", 2),
        ("c.parquet", 2),
    }
    assert "invalid JSON" in where["a.jsonl", 2] and "surrogates" in where["a.jsonl", 4]
    assert "invalid UTF-8" in where["a.jsonl", 6] and "invalid UTF-8" in where["b.txt", 2]
    assert "no string field 'text'" in where["a.jsonl", 3]
    rows = read_output(out)
    assert [(Path(r["source"]).name, r["line"]) for r in rows] == [
        *[("a.jsonl", n) for n in (1, 2, 3, 4, 6, 7, 8)],
        *[("b.txt", n) for n in (1, 2, 3)],
        *[("c.parquet", n) for n in (1, 2)],
    ]
    assert rows[0]["id"] == "7" and rows[2]["id"] == "sin texto"
    assert [r["error"] is None for r in rows] == [
        True, False, False, False, False, False, True, True, False, True, True, False
    ]  # fmt: skip


def test_cli_engine_ray(local_ray, saved_pipeline, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths: the workers' cwd is not the driver's
    write_jsonl(tmp_path / "in.jsonl", [{"text": "Ana vive en Madrid."}, {"id": 1}])
    out = tmp_path / "out"
    args = ["annotate", str(saved_pipeline), "in.jsonl", "out"]
    result = CliRunner().invoke(app, [*args, "--engine", "ray", "--no-progress"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # wasabi wraps long lines
    assert "Read 2 records, wrote 2 (1 failed)" in output
    assert "in.jsonl:2: no string field 'text'" in output
    assert [r["id"] for r in read_output(out)] == ["0", "1"]
    result = CliRunner().invoke(app, [*args, "--engine", "ray", "--skip-invalid"])
    assert result.exit_code == 1 and "--skip-invalid" in result.output
    result = CliRunner().invoke(app, ["annotate-ray", *args[1:], "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Resumed: 1 of 1 shards already written" in " ".join(result.output.split())


def test_no_ray_needed_to_import():
    """`import spacy_beto.distributed` (and the CLI) must not import Ray at import time."""
    import subprocess
    import sys

    code = "import sys, spacy_beto.cli, spacy_beto.distributed; print('ray' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "False", out.stderr
