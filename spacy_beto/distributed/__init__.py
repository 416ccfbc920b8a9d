"""Annotate a corpus on a Ray cluster with Ray Data (`pip install spacy-beto[ray]`).

`annotate_ray` is the entry point; `python -m spacy_beto annotate-ray` (or `annotate --engine
ray`) its command line. Importing this package does not import Ray.
"""

from .run import RaySummary, annotate_ray

__all__ = ["RaySummary", "annotate_ray"]
