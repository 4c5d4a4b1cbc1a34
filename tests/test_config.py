"""Presets resolve to the documented values; overrides are typed and validated."""

import math
from itertools import pairwise

import pytest

from lbt import config
from lbt.errors import LBTError
from lbt.train import lr_scale


def test_paper_presets_match_official_hyperparameters():
    ring = config.build("paper-ring")
    assert (ring.train.batch_size, ring.lbt.n_est, ring.train.gen_lr, ring.lbt.est_lr) == (512, 2, 1e-3, 1e-4)
    assert (ring.lbt.unroll_steps, ring.train.beta1, ring.model.estimator) == (5, 0.5, "vae")
    assert (ring.data.modes, ring.data.radius, ring.data.std) == (8, 1.0, 0.1)
    grid = config.build("paper-grid")
    assert (grid.train.batch_size, grid.lbt.n_est, grid.data.modes, grid.data.spacing, grid.data.std) == (
        2048, 3, 100, 0.2, 0.01)  # fmt: skip
    assert grid.lbt.est_lr_mult == 3.0 and grid.train.clip_norm == 5.0


def test_overrides_are_coerced():
    cfg = config.build("ring", [("train.iterations", "1e3"), ("lbt.adam_second_moment_grad", "true"),
                                ("train.gen_lr", "3e-4")])  # fmt: skip
    assert cfg.train.iterations == 1000 and isinstance(cfg.train.iterations, int)
    assert cfg.lbt.adam_second_moment_grad is True
    assert cfg.train.gen_lr == 3e-4


@pytest.mark.parametrize("key, value", [("train.iterations", "1.5"), ("lbt.adam_second_moment_grad", "maybe"),
                                        ("train.beta1", "1.0"), ("eval.every", "0"),
                                        ("train.gen_lr_hold", "1.0")])  # fmt: skip
def test_bad_values_raise(key, value):
    with pytest.raises(LBTError, match=key.replace(".", r"\.")):
        config.build("ring", [(key, value)])


def test_lr_schedule_holds_then_decays_to_the_final_rate():
    """With a hold the rate stays full for that fraction of the run, then follows a cosine to the end."""
    plain = config.build("ring", [("train.iterations", "1000"), ("train.gen_lr", "1e-3"),
                                  ("train.gen_lr_final", "1e-5")])  # fmt: skip
    for it in (0, 250, 500, 1000):  # no hold: the plain cosine over the whole run
        want = 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * it / 1000))
        assert lr_scale(plain, it) == pytest.approx(want)
    held = config.build("ring", [("train.iterations", "1000"), ("train.gen_lr", "1e-3"),
                                 ("train.gen_lr_final", "1e-5"), ("train.gen_lr_hold", "0.6")])  # fmt: skip
    assert [lr_scale(held, it) for it in (0, 300, 600)] == [1.0, 1.0, 1.0]
    assert lr_scale(held, 800) == pytest.approx(0.01 + 0.99 * 0.5)  # halfway through the decay
    assert lr_scale(held, 1000) == pytest.approx(0.01)
    tail = [lr_scale(held, it) for it in range(600, 1001, 50)]
    assert all(a > b for a, b in pairwise(tail))
    const = config.build("ring", [("train.gen_lr_hold", "0.5")])  # no final rate: constant
    assert lr_scale(const, const.train.iterations) == 1.0


def test_yaml_round_trip(tmp_path):
    cfg = config.build("grid", [("seed", "7")])
    config.save(cfg, tmp_path / "config.yaml", {"note": "x"})
    assert config.load(tmp_path / "config.yaml") == cfg


def test_resumable_keys_are_real_keys_and_unknown_ones_are_refused(tmp_path):
    """What a resume may change names config keys (or a section of them); ``data.dir``, which is
    no key, is refused on resume like any other unknown key."""
    from lbt import Trainer

    keys = config.keys()
    for entry in config.RESUMABLE_PREFIXES:
        assert entry in keys or (entry.endswith(".") and any(k.startswith(entry) for k in keys)), entry
    out = tmp_path / "run"
    small = {"train.iterations": 1, "eval.every": 1, "eval.samples": 200, "eval.train_samples": 200,
             "train.batch_size": 32, "train.gen_batch_size": 32}  # fmt: skip
    Trainer(preset="ring", overrides=small, out_dir=out, progress=False).fit()
    with pytest.raises(LBTError, match="unknown config key 'data.dir'"):
        Trainer.resume(out, [("data.dir", "/elsewhere")])


def test_a_resume_may_change_how_a_step_runs_but_not_what_it_trains():
    """Threads and compilation choose how the same step is computed; a batch size changes the run."""
    old = config.build("grid-vae")
    new = config.build("grid-vae", {"train.threads": 2, "train.compile": "none", "train.iterations": 30000})
    config.check_resumable(old, new)
    with pytest.raises(LBTError, match="cannot resume with train.batch_size=256"):
        config.check_resumable(old, config.build("grid-vae", {"train.batch_size": 256}))


def test_each_parts_keys_are_declared_beside_its_builder_and_set_as_before():
    """The model and gan sections are gathered from the parts' own configs; the keys keep their
    names (``--set model.kde_bandwidth=...``) and their defaults."""
    import dataclasses

    from lbt.config import Config
    from lbt.config.schema import GANConfig, ModelConfig
    from lbt.models.discriminators import DiscriminatorConfig
    from lbt.models.generators import GeneratorConfig
    from lbt.models.teachers.flow import FlowConfig
    from lbt.models.teachers.kde import KDEConfig
    from lbt.models.teachers.mixture import MixtureConfig
    from lbt.models.teachers.vae import VAEConfig

    parts = (GeneratorConfig, VAEConfig, MixtureConfig, KDEConfig, FlowConfig)
    own = {f.name for p in parts for f in dataclasses.fields(p)}
    assert own | {"estimator", "discriminator"} == {f.name for f in dataclasses.fields(ModelConfig)}
    from lbt.methods.gan import AdversaryConfig
    from lbt.methods.lbt import LBTConfig
    from lbt.methods.lbt_gan import LBTGANConfig
    from lbt.methods.veegan import VEEGANConfig

    gan_parts = (DiscriminatorConfig, AdversaryConfig, VEEGANConfig, LBTGANConfig)
    gan_own = {f.name for p in gan_parts for f in dataclasses.fields(p)}
    assert gan_own == {f.name for f in dataclasses.fields(GANConfig)}
    assert Config().lbt.__class__ is LBTConfig  # the lbt section beside LBT
    cfg = config.build("ring", {"model.kde_bandwidth": 0.3, "gan.disc_hidden": 7, "model.flow_hidden": 9})
    assert isinstance(cfg.model, KDEConfig) and cfg.model.kde_bandwidth == 0.3 and cfg.model.flow_hidden == 9
    assert isinstance(cfg.gan, DiscriminatorConfig) and cfg.gan.disc_hidden == 7
    assert Config().model.mixture_components == MixtureConfig().mixture_components == 64


def test_a_config_written_before_the_point_cloud_split_keeps_its_unsplit_unstandardised_data(tmp_path):
    import yaml

    doc = config.build("ring", {"data.name": "npy", "data.path": "x.npy"}).to_dict()
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(doc))
    del doc["data"]["holdout"], doc["data"]["standardize"]
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(doc))
    new, old = config.load(tmp_path / "new.yaml"), config.load(tmp_path / "old.yaml")
    assert (new.data.holdout, new.data.standardize) == (0.2, True)
    assert (old.data.holdout, old.data.standardize) == (0.0, False)
