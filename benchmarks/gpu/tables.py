"""Markdown tables from what benchmarks/gpu/run.sh wrote so far (sweep, table, agreement, probe).

python benchmarks/gpu/tables.py OUT_DIR      -> OUT_DIR/tables.md (rewritten after each phase)
"""

import json
import sys
from pathlib import Path
from typing import Dict, List


def speed_table(result: Dict, title: str) -> List[str]:
    details = result.get("details", {})
    best = set(result.get("best", {}).values())
    lines = [
        f"### {title}",
        "",
        "| key (* = best per variant) | words/s | per round | encoder calls |",
        "|---|---:|---|---:|",
    ]
    for key, wps in result.get("words_per_s", {}).items():
        d = details.get(key, {})
        rounds = "/".join(f"{w:,.0f}" for w in d.get("words_per_s_per_round", []))
        calls = d.get("encoder", {}).get("calls", "")
        lines.append(f"| {key}{'*' if key in best else ''} | {wps:,.0f} | {rounds} | {calls} |")
    ratios = result.get("ratios_at_best", {})
    if ratios:
        lines += ["", "| ratio at best | value |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in ratios.items()]
    setup = result.get("setup", {})
    lines += ["", f"device: {setup.get('device')}; load: {result.get('load_avg')}", ""]
    return lines


def main(out: Path) -> None:
    lines = ["# issue 12 phase 2, GPU run", ""]
    env = out / "steps.log"
    if env.exists():
        lines += ["```", env.read_text(encoding="utf8").strip(), "```", ""]
    for name, title in (("sweep.json", "Sweep (batch sizes)"), ("gpu.json", "Table")):
        path = out / name
        if path.exists():
            try:
                lines += speed_table(json.loads(path.read_text(encoding="utf8")), title)
            except (ValueError, KeyError) as err:
                lines += [f"{name}: unreadable ({err})", ""]
    for name in ("agreement.json",):
        path = out / name
        if path.exists():
            res = json.loads(path.read_text(encoding="utf8"))
            kind = "trained" if res.get("trained") else "random heads and encoder"
            lines += [
                f"### Reduced precision vs fp32 ({kind}: {res['pipeline']}, {res['n_texts']} "
                f"texts, {res['device']})",
                "",
                "| precision | words/s | docs agree | ents agree | top cat agree | max cat diff |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for prec, row in res["precisions"].items():
                lines.append(
                    f"| {prec} | {row['words_per_s']:,.0f} | {row.get('docs_agree', 1):.4f} | "
                    f"{row.get('ents_agree', 1):.4f} | {row.get('top_cat_agree', 1):.4f} | "
                    f"{row.get('max_cat_diff', 0):.2e} |"
                )
            lines.append("")
    (out / "tables.md").write_text("\n".join(lines) + "\n", encoding="utf8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
