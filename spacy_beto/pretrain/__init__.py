"""BETO-style pretraining: whole-word-masking MLM (+ optional NSP) on raw text files."""

from .data import DataStats, Position, PretrainingData
from .masking import MaskingConfig, mask_whole_words, word_groups
from .nsp import make_pairs
from .trainer import PretrainConfig, PretrainResult, latest_checkpoint, load_model, pretrain

__all__ = [
    "DataStats",
    "MaskingConfig",
    "Position",
    "PretrainConfig",
    "PretrainResult",
    "PretrainingData",
    "latest_checkpoint",
    "load_model",
    "make_pairs",
    "mask_whole_words",
    "pretrain",
    "word_groups",
]
