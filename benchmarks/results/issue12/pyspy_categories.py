import sys, re
order = [
  ("spaCy tokenizer (make_doc)", r"make_doc"),
  ("transformer: alignment", r"get_alignment_via_offset_mapping|fast_alignment|get_span2wp|align_dropped"),
  ("transformer: huggingface_tokenize", r"huggingface_tokenize"),
  ("transformer: window texts", r"<listcomp> \(spacy_transformers/layers/transformer_model.py:183|doc_texts|text_with_ws|Span.text|Doc.text"),
  ("transformer: span getters + fitting", r"span_fitting|get_strided_spans|LengthFitted"),
  ("transformer: encoder forward", r"grouped_forward|pytorchwrapper|PyTorchShim"),
  ("transformer: set_annotations/split_by_doc", r"split_by_doc|set_annotations \(spacy_beto|set_annotations \(spacy_transformers"),
  ("transformer: other", r"BetoTransformer.pipe"),
  ("textcat (incl. its listener)", r"[Tt]extcat|TextCategorizer|textcat"),
  ("NER (incl. its listener)", r"Parser|parser|ner"),
]
tot = 0; hits = {k: 0 for k, _ in order}; hits["other"] = 0
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(" ")
    try: n = int(n)
    except ValueError: continue
    if "run_spacy" not in stack: continue
    tot += n
    # strip the generator chain: keep frames after the last 'minibatch (spacy/util.py' frame
    tail = stack.split("minibatch (spacy/util.py")[-1]
    for k, pat in order:
        if re.search(pat, tail if not k.startswith(("spaCy", "transformer")) else stack):
            hits[k] += n; break
    else:
        hits["other"] += n
print("samples in nlp.pipe:", tot)
for k, v in hits.items(): print(f"| {k} | {100*v/max(tot,1):.1f} % |")
