"""A corpus reader that interleaves several corpora with configurable proportions."""

import random
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Literal,
    Optional,
    Sequence,
    Union,
    cast,
)

from spacy.language import Language
from spacy.training import Corpus, Example
from spacy.util import registry

from ..errors import BetoConfigError
from .docbin_reader import BetoCorpus


class InterleavedCorpus:
    """Yield one epoch of examples drawn from several corpora in fixed proportions.

    Proportions count words (tokens) by default, or examples with `unit="examples"`: with
    words, a corpus of long documents and one of tweets both get their share of each batch
    (the batcher counts words too). Each corpus is cycled in a fresh random order (no example
    repeats before its corpus is exhausted); the sources alternate smoothly, so every batch
    mixes them in about the given proportions. An epoch has `size` examples (default: all
    corpora added up).
    """

    def __init__(
        self,
        corpora: Sequence[Corpus],
        *,
        proportions: Sequence[float],
        size: Optional[int] = None,
        seed: int = 0,
        names: Sequence[str] = (),
        unit: str = "words",
    ) -> None:
        if unit not in ("words", "examples"):
            raise BetoConfigError(
                f"InterleavedCorpus: unit must be 'words' or 'examples', got {unit!r}"
            )
        if len(corpora) != len(proportions):
            raise BetoConfigError(
                f"InterleavedCorpus: {len(corpora)} paths but {len(proportions)} proportions; "
                f"give one proportion per path."
            )
        if any(p < 0 for p in proportions) or sum(proportions) <= 0:
            raise BetoConfigError(
                "InterleavedCorpus: proportions must be >= 0 and not all 0, "
                f"got {list(proportions)}"
            )
        total = float(sum(proportions))
        self.corpora = list(corpora)
        self.proportions = [p / total for p in proportions]
        self.size = size
        self.names = list(names) or [f"corpus {i}" for i in range(len(corpora))]
        self.rng = random.Random(seed)
        self.unit = unit

    def __call__(self, nlp: Language) -> Iterator[Example]:
        pools: List[List[Any]] = []  # [None] stands for a corpus with share 0
        for name, corpus, share in zip(self.names, self.corpora, self.proportions):
            examples = list(corpus(nlp)) if share else [None]
            if not examples:
                raise BetoConfigError(f"InterleavedCorpus: {name} has no examples")
            pools.append(examples)
        size = self.size or sum(len(p) for p, share in zip(pools, self.proportions) if share)
        orders = [self._shuffled(pool) for pool in pools]
        emitted = [0] * len(pools)  # words or examples, per source
        for _ in range(size):
            # The source furthest behind its target share goes next.
            total = sum(emitted) + 1
            i = max(
                range(len(pools)),
                key=lambda j: (
                    self.proportions[j] * total - emitted[j] if self.proportions[j] else -1e9
                ),
            )
            if not orders[i]:
                orders[i] = self._shuffled(pools[i])
            example = orders[i].pop()
            emitted[i] += max(1, len(example.reference)) if self.unit == "words" else 1
            yield example

    def _shuffled(self, pool: List[Example]) -> List[Example]:
        order = list(pool)
        self.rng.shuffle(order)
        return order


@registry.readers("spacy-beto.InterleavedCorpus.v1")
def create_interleaved_corpus(
    paths: Dict[str, Optional[Union[str, Path]]],
    proportions: Optional[Dict[str, float]] = None,
    size: Optional[int] = None,
    seed: int = 0,
    max_length: int = 0,
    gold_preproc: bool = False,
    limit: int = 0,
    unit: Literal["words", "examples"] = "words",
) -> Callable[[Language], Iterator[Example]]:
    """Interleave named .spacy corpora (files or directories) in `proportions` (default:
    equal; a proportion of 0 leaves a corpus out) of words or, with `unit = "examples"`,
    of examples. An epoch has `size` examples."""
    names = list(paths)
    proportions = dict(proportions or {name: 1.0 for name in names})
    if set(proportions) != set(names):
        raise BetoConfigError(
            f"InterleavedCorpus: proportions name {sorted(proportions)} but paths name "
            f"{sorted(names)}; give one proportion per path."
        )
    unset = [name for name in names if paths[name] is None]
    if unset:
        return _unset_paths_reader(unset)
    corpora = []
    for name in names:
        path = cast(Union[str, Path], paths[name])  # None was handled above
        if not Path(path).exists():
            raise BetoConfigError(f"InterleavedCorpus: {name} = {paths[name]} does not exist")
        corpora.append(
            BetoCorpus(path, max_length=max_length, gold_preproc=gold_preproc, limit=limit)
        )
    return InterleavedCorpus(
        corpora,
        proportions=[proportions[name] for name in names],
        size=size,
        seed=seed,
        names=[f"{name} ({paths[name]})" for name in names],
        unit=unit,
    )


def _unset_paths_reader(unset: List[str]) -> Callable[[Language], Iterator[Example]]:
    """A reader that explains, when training starts, which corpus paths are not set."""

    def read(nlp: Language) -> Iterator[Example]:
        raise BetoConfigError(
            f"InterleavedCorpus: no path for {', '.join(unset)}: set the .spacy file or "
            f"directory of each in the config's [paths] or on the command line "
            f"(--paths.NAME PATH)."
        )

    return read
