"""Share of `nlp.pipe`'s py-spy samples per part of the pipeline (speed.md, issue 12).

    py-spy record --native -r 250 -f raw -o a.txt -- python benchmarks/profile_overhead.py \
        --variant a --no-cprofile --vocab ../shared/beto/cased/vocab.txt --n-texts 1000
    python benchmarks/results/issue12/pyspy_categories.py a.txt

Each sample (a collapsed stack) goes to the first category whose pattern matches: the
transformer's parts are matched on the whole stack, the heads on the frames below the last
`minibatch` (spaCy chains the components' generators, so every stack passes through the NER's).
"""

import re
import sys
from typing import Dict, List, Tuple

ORDER: List[Tuple[str, str]] = [
    ("spaCy tokenizer (make_doc)", r"make_doc"),
    (
        "transformer: alignment",
        r"get_alignment_via_offset_mapping|fast_alignment|get_span2wp|align_dropped",
    ),
    ("transformer: huggingface_tokenize", r"huggingface_tokenize"),
    (
        "transformer: window texts",
        r"<listcomp> \(spacy_transformers/layers/transformer_model.py:183|doc_texts"
        r"|text_with_ws|Span.text|Doc.text",
    ),
    ("transformer: span getters + fitting", r"span_fitting|get_strided_spans|LengthFitted"),
    ("transformer: encoder forward", r"grouped_forward|pytorchwrapper|PyTorchShim"),
    (
        "transformer: set_annotations/split_by_doc",
        r"split_by_doc|set_annotations \(spacy_beto|set_annotations \(spacy_transformers",
    ),
    ("transformer: other", r"BetoTransformer.pipe"),
    ("textcat (incl. its listener)", r"[Tt]extcat|TextCategorizer"),
    ("NER (incl. its listener)", r"Parser|parser|ner"),
]


def categorize(path: str) -> Tuple[int, Dict[str, int]]:
    """Samples under `run_spacy` and how many fell in each category."""
    total = 0
    hits = {name: 0 for name, _ in ORDER}
    hits["other"] = 0
    with open(path, encoding="utf8") as fileh:
        for line in fileh:
            stack, _, count = line.rstrip().rpartition(" ")
            if not count.isdigit() or "run_spacy" not in stack:
                continue
            n = int(count)
            total += n
            below = stack.split("minibatch (spacy/util.py")[-1]
            for name, pattern in ORDER:
                where = stack if name.startswith(("spaCy", "transformer")) else below
                if re.search(pattern, where):
                    hits[name] += n
                    break
            else:
                hits["other"] += n
    return total, hits


if __name__ == "__main__":
    total, hits = categorize(sys.argv[1])
    print("samples in nlp.pipe:", total)
    for name, n in hits.items():
        print(f"| {name} | {100 * n / max(total, 1):.1f} % |")
