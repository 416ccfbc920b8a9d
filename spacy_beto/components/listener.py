"""The listener sub-config shared by the BETO task heads."""

LISTENER_CONFIG_STR = """
[model.tok2vec]
@architectures = "spacy-transformers.TransformerListener.v1"
grad_factor = 1.0
# "*" listens to whichever transformer component precedes the head (e.g. beto_transformer).
upstream = "*"

[model.tok2vec.pooling]
@layers = "reduce_mean.v1"
"""
