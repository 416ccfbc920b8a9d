"""benchmarks/pretrain_effect.py: each arm's own learning-rate settings, and which finished
fine-tuning runs a later invocation reuses (only those trained with exactly its settings)."""

import argparse
import importlib.util
import sys
from pathlib import Path

from .conftest import ROOT


def load_pretrain_effect():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # it imports its sibling accuracy.py
    try:
        spec = importlib.util.spec_from_file_location(
            "pretrain_effect", ROOT / "benchmarks" / "pretrain_effect.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def namespace(**kwargs: object) -> argparse.Namespace:
    settings: dict = dict(
        finetune_lr=0.003,
        finetune_encoder_scale=0.1,
        random_lr=None,
        random_encoder_scale=None,
        seeds=[0, 1],
    )
    settings.update(kwargs)
    return argparse.Namespace(**settings)


def test_the_random_arm_gets_its_own_settings_only_where_given():
    bench = load_pretrain_effect()
    encoders = {"random": Path("/w/mini"), "pretrained": Path("/w/mini-pretrained")}
    same = bench.arms(namespace(), encoders)
    assert [(a.name, a.lr, a.encoder_scale) for a in same] == [
        ("random@seed0", 0.003, 0.1),
        ("random@seed1", 0.003, 0.1),
        ("pretrained@seed0", 0.003, 0.1),
        ("pretrained@seed1", 0.003, 0.1),
    ]
    own = bench.arms(namespace(random_encoder_scale=1.0), encoders)
    assert [(a.lr, a.encoder_scale) for a in own] == [(0.003, 1.0)] * 2 + [(0.003, 0.1)] * 2
    dirs = {a.run_dir(Path("/w"), 800).name for a in own}
    assert dirs == {
        "random@seed0-800steps-lr0.003-enc1.0",
        "random@seed1-800steps-lr0.003-enc1.0",
        "pretrained@seed0-800steps-lr0.003-enc0.1",
        "pretrained@seed1-800steps-lr0.003-enc0.1",
    }


def test_a_finished_run_is_reused_only_with_the_same_encoder_seed_steps_and_rates(tmp_path):
    bench = load_pretrain_effect()
    arm = bench.Arm("pretrained@seed1", tmp_path / "enc", 1, 0.003, 0.1)
    target = arm.run_dir(tmp_path, 800)
    assert not bench.finished(arm, target, 800)  # nothing trained yet
    (target / "model-last").mkdir(parents=True)
    (target / "model-last" / "config.cfg").write_text(
        f'[paths]\ntransformer = "{tmp_path / "enc"}"\n\n[system]\nseed = 1\n\n'
        "[components]\n\n[components.transformer]\nlearn_rate_scale = 0.1\n\n"
        "[training]\nmax_steps = 800\n\n[training.optimizer]\n\n"
        "[training.optimizer.learn_rate]\ninitial_rate = 0.003\n",
        encoding="utf8",
    )
    assert bench.finished(arm, target, 800)
    assert not bench.finished(arm, target, 400)
    assert not bench.finished(arm._replace(seed=0), target, 800)
    assert not bench.finished(arm._replace(encoder=tmp_path / "other"), target, 800)
    assert not bench.finished(arm._replace(lr=0.002), target, 800)
    assert not bench.finished(arm._replace(encoder_scale=None), target, 800)  # config's 1.0
    assert not bench.finished(arm._replace(lr=None), target, 800)  # the config's 5e-4
