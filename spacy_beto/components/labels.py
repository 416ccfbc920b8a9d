"""Refuse labels, given in [initialize.components], that no training example has."""

from typing import Any, Callable, Iterable, List, Set

from spacy.training import Example

from ..errors import BetoConfigError


def label_names(labels: Any) -> List[str]:
    """Label names from a list of labels or from a parser's moves dict {action: {label: n}}."""
    if isinstance(labels, dict):
        names = {label for per_action in labels.values() for label in per_action}
        return sorted(name for name in names if name and name != "-")
    return list(labels)


def check_labels_in_data(
    labels: Any,
    get_examples: Callable[[], Iterable[Example]],
    *,
    component: str,
    seen_in: Callable[[Example], Iterable[str]],
    what: str,
) -> None:
    """Raise BetoConfigError if a given label never occurs in the examples (seen_in(eg))."""
    seen: Set[str] = set()
    for eg in get_examples():
        seen.update(seen_in(eg))
    missing = [name for name in label_names(labels) if name not in seen]
    if missing:
        raise BetoConfigError(
            f"Component '{component}' is initialized with labels {missing} (from "
            f"[initialize.components.{component}] labels) that no training example has as "
            f"{what}; the data has {sorted(seen)}. The component could never predict them. "
            f"Remove them from the labels (or the labels file), or add training data with them."
        )


def check_entity_labels_in_data(
    labels: Any, get_examples: Callable[[], Iterable[Example]], *, component: str
) -> None:
    """check_labels_in_data for an entity head: every label must be some gold entity's."""
    check_labels_in_data(
        labels,
        get_examples,
        component=component,
        seen_in=lambda eg: [ent.label_ for ent in eg.reference.ents],
        what="an entity label",
    )
