"""Plug es_beto_trf's transformer and task heads into another spaCy pipeline."""

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union, cast

import spacy
from spacy.language import Language
from spacy_transformers import Transformer

from .errors import BetoConfigError

# The attribute that spaCy's doc_cleaner resets to drop the transformer output.
TRF_DATA_ATTR = "_.trf_data"


def _transformer_names(nlp: Language) -> List[str]:
    return [name for name, proc in nlp.pipeline if isinstance(proc, Transformer)]


def copy_pipeline(nlp: Language) -> Language:
    """An independent copy of `nlp` (same config and weights), so that changing the copy's
    components leaves `nlp` as it was."""
    copied = spacy.util.load_model_from_config(nlp.config, auto_fill=False)
    return copied.from_bytes(nlp.to_bytes())


def ensure_doc_cleaner_last(nlp: Language) -> Optional[str]:
    """Make spaCy's `doc_cleaner` the last component, so that doc._.trf_data is dropped after
    every head read it. An existing doc_cleaner that drops trf_data is moved to the end (with
    its settings); otherwise one is added. Returns the name of the component added or moved."""
    cleaners = [
        name
        for name in nlp.pipe_names
        if nlp.get_pipe_meta(name).factory == "doc_cleaner"
        and TRF_DATA_ATTR in nlp.get_pipe_config(name).get("attrs", {})
    ]
    if cleaners and cleaners[-1] == nlp.pipe_names[-1]:
        return None
    if cleaners:
        name = cleaners[-1]
        config = {key: nlp.get_pipe_config(name)[key] for key in ("attrs", "silent")}
        nlp.remove_pipe(name)
    else:
        name = "doc_cleaner"
        while name in nlp.pipe_names:
            name = f"{name}_trf"
        config = {}
    nlp.add_pipe("doc_cleaner", name=name, config=config)
    return name


def listener_paths(config: Dict[str, Any], prefix: str = "") -> List[str]:
    """Dot paths of the TransformerListener sub-configs in a component's config."""
    paths: List[str] = []
    for key, value in config.items():
        if isinstance(value, dict):
            path = f"{prefix}{key}"
            if "TransformerListener" in str(value.get("@architectures", "")):
                paths.append(path)
            else:
                paths.extend(listener_paths(value, path + "."))
    return paths


def add_to(
    nlp: Language,
    source: Union[str, Path, Language] = "es_beto_trf",
    *,
    components: Sequence[str] = ("ner", "textcat"),
    share_transformer: bool = True,
    transformer_name: str = "beto_transformer",
    names: Optional[Dict[str, str]] = None,
    before: Optional[str] = None,
) -> List[str]:
    """Add `components` of the `source` pipeline (a package name, path or Language) to `nlp`.

    With `share_transformer` (default) the source's transformer is added once, as
    `transformer_name`, and the heads keep listening to it: one forward pass serves all of them.
    Otherwise each head gets its own copy of the transformer (spaCy's `replace_listeners`), which
    is what you need when `nlp` already has a transformer of its own. `names` renames heads;
    `before` inserts everything before that component. With a shared transformer, spaCy's
    `doc_cleaner` is made the last component (added or moved) so that doc._.trf_data is dropped
    after the heads read it. A `source` Language is never modified. Returns the names added
    (or moved), in order.
    """
    src = source if isinstance(source, Language) else spacy.load(source)
    names = dict(names or {})
    unknown = [c for c in components if c not in src.pipe_names]
    if unknown:
        raise BetoConfigError(
            f"{unknown} not in the source pipeline; it has: {', '.join(src.pipe_names)}"
        )
    src_trfs = _transformer_names(src)
    if len(src_trfs) != 1:
        raise BetoConfigError(f"Expected one transformer in the source pipeline, found {src_trfs}")
    src_trf = src_trfs[0]
    targets = [names.get(c, c) for c in components]
    if share_transformer:
        targets.insert(0, transformer_name)
    clash = [t for t in targets if t in nlp.pipe_names]
    if clash:
        raise BetoConfigError(
            f"{clash} already in the pipeline; pass names={{...}} / transformer_name=... to rename"
        )
    added: List[str] = []
    if share_transformer:
        existing = _transformer_names(nlp)
        if existing:
            raise BetoConfigError(
                f"The pipeline already has a transformer ({existing}); the heads' listeners "
                f"would attach to it too. Use share_transformer=False to give each head its own."
            )
        nlp.add_pipe(src_trf, name=transformer_name, source=src, before=before)
        added.append(transformer_name)
    else:
        if src is source:
            src = copy_pipeline(src)  # replace_listeners changes the source's components
        for comp in components:
            if comp in cast(Transformer, src.get_pipe(src_trf)).listening_components:
                src.replace_listeners(src_trf, comp, listener_paths(src.get_pipe_config(comp)))
    for comp in components:
        name = names.get(comp, comp)
        nlp.add_pipe(comp, name=name, source=src, before=before)
        added.append(name)
    if share_transformer:
        cleaner = ensure_doc_cleaner_last(nlp)
        if cleaner:
            added.append(cleaner)
    return added
