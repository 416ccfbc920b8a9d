"""Test-split scores over several seeds, in the literature's form, next to published figures.

`summarize_runs` turns the metrics of several runs (one per seed, from `evaluate_pipeline`)
into mean ± std per score; `markdown_summary` writes the tables of `metrics/*-test.md` and of
the model card: entity span P/R/F per type (CoNLL-2002 esp.testb convention: exact span and
type match, micro-averaged), the emotion classifier's macro-F1, weighted-F1 and accuracy, and
the published figures (`PUBLISHED`) with their sources.
"""

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

from .report import aggregate

SUMMARY_VERSION = 1


@dataclass(frozen=True)
class Published:
    """A published test score (in %), the score key it compares with, and its source."""

    task: str
    key: str  # our score key: ents_f, cats_macro_f, cats_weighted_f, cats_accuracy
    metric: str
    model: str
    value: float
    source: str
    url: str


CONLL = "CoNLL-2002 Spanish NER, test (esp.testb)"
EMOEVENT = "EmoEvent Spanish emotions, test"
PUBLISHED = (
    Published(CONLL, "ents_f", "entity F1", "BETO cased", 88.43,
              "BETO README (Cañete et al. 2020)", "https://github.com/dccuchile/beto"),
    Published(CONLL, "ents_f", "entity F1", "BETO cased", 87.59,
              "EvalES benchmark (PlanTL, MarIA: Gutiérrez-Fandiño et al. 2022)",
              "https://github.com/PlanTL-GOB-ES/lm-spanish"),
    Published(CONLL, "ents_f", "entity F1", "RoBERTa-BNE base", 88.51,
              "EvalES benchmark (PlanTL, MarIA: Gutiérrez-Fandiño et al. 2022)",
              "https://github.com/PlanTL-GOB-ES/lm-spanish"),
    Published(CONLL, "ents_f", "entity F1", "XLM-RoBERTa large", 89.3,
              "Conneau et al. 2020, Unsupervised Cross-lingual Representation Learning at Scale",
              "https://aclanthology.org/2020.acl-main.747/"),
    Published(EMOEVENT, "cats_macro_f", "macro-F1", "BETO cased", 51.6,
              "pysentimiento (Pérez et al. 2021)", "https://arxiv.org/abs/2106.09462"),
    Published(EMOEVENT, "cats_macro_f", "macro-F1", "RoBERTuito", 56.0,
              "pysentimiento (Pérez et al. 2021)", "https://arxiv.org/abs/2106.09462"),
    Published(EMOEVENT, "cats_weighted_f", "weighted-F1", "best EmoEvalEs 2021 system", 71.7,
              "EmoEvalEs at IberLEF 2021 overview (Plaza-del-Arco et al. 2021; its own test "
              "partition of EmoEvent)", "https://github.com/fmplaza/EmoEvent"),
)  # fmt: skip


def flat_scores(scores: Dict[str, Any]) -> Dict[str, float]:
    """The numeric scores of a metrics dict, per-type tables flattened to `KEY.LABEL.p|r|f`
    (`ents_per_type.PER.f`, `cats_f_per_type.joy.f`, `cats_auc_per_type.joy`)."""
    flat: Dict[str, float] = {}
    for key, value in scores.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[key] = float(value)
        elif key.endswith("_per_type") and isinstance(value, dict):
            for label, prf in value.items():
                if isinstance(prf, (int, float)):  # cats_auc_per_type: label -> AUC
                    flat[f"{key}.{label}"] = float(prf)
                    continue
                for name, number in (prf or {}).items():
                    if isinstance(number, (int, float)):
                        flat[f"{key}.{label}.{name}"] = float(number)
    return flat


def summarize_runs(
    runs: Dict[str, Dict[str, Any]], *, data: str, extra: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
    """{"runs": {seed: flat scores}, "mean_std": {key: {mean, std, n}}, "published": [...]}."""
    flat = {seed: flat_scores(scores) for seed, scores in runs.items()}
    keys = sorted({key for scores in flat.values() for key in scores})
    return {
        "version": SUMMARY_VERSION,
        "data": data,
        "seeds": list(runs),
        "runs": flat,
        "mean_std": aggregate(list(flat.values()), keys),
        "published": [asdict(p) for p in PUBLISHED],
        **(extra or {}),
    }


def _ms(stats: Dict[str, Dict[str, float]], key: str) -> str:
    """ "88.10 ± 0.31" (percentages), "–" if not scored."""
    if key not in stats:
        return "–"
    return f"{stats[key]['mean'] * 100:.2f} ± {stats[key]['std'] * 100:.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def markdown_summary(summary: Dict[str, Any], *, level: int = 2) -> str:
    """Markdown tables of a `summarize_runs` result: entities per type, emotions, published."""
    stats = summary["mean_std"]
    h = "#" * level
    n = len(summary["seeds"])
    parts = [
        f"Mean ± standard deviation over {n} seed(s) ({', '.join(summary['seeds'])}), "
        f"scores in %, on {summary['data']}."
    ]
    types = sorted({k.split(".")[1] for k in stats if k.startswith("ents_per_type.")})
    if "ents_f" in stats:
        rows = [
            ["**all (micro)**", _ms(stats, "ents_p"), _ms(stats, "ents_r"), _ms(stats, "ents_f")]
        ]
        rows += [[t] + [_ms(stats, f"ents_per_type.{t}.{m}") for m in "prf"] for t in types]
        parts += [f"{h} {CONLL}: entity spans (exact match)", _table(["type", "P", "R", "F"], rows)]
    if "cats_macro_f" in stats:
        keys = ("cats_macro_f", "cats_weighted_f", "cats_accuracy")
        parts += [
            f"{h} {EMOEVENT}",
            _table(["macro-F1", "weighted-F1", "accuracy"], [[_ms(stats, k) for k in keys]]),
        ]
        restore = summary.get("restore")
        if restore:
            parts.append(
                f"Labels restored from `{restore['reference']}`: {restore['matched']} of "
                f"{restore['rows']} test records matched ({restore['merged_cells']} merged "
                f"cell(s) split, {restore['labels_changed']} published labels replaced); "
                f"{restore['left_out']} left out ({restore['unmatched']} unmatched, "
                f"{restore['ambiguous']} ambiguous)."
            )
    rows = [
        [p.task, p.metric, p.model, f"{p.value:.2f}", _ms(stats, p.key), f"[{p.source}]({p.url})"]
        for p in PUBLISHED
    ]
    parts += [
        f"{h} Published test figures",
        _table(["task", "metric", "model", "published", "this pipeline", "source"], rows),
    ]
    return "\n\n".join(parts) + "\n"


def published_keys() -> List[str]:
    return sorted({p.key for p in PUBLISHED})
