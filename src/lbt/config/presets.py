"""The named presets, plain nested dicts of config values, and building a config from one.

Presets are data: the paper-faithful ``paper-*`` recipes, the fast ones, and the hard 2-D suite
whose per-method recipes live under ``recipes`` (docs/presets.md says what each changes and
why), and the image presets (``IMAGE_PRESETS``). :data:`PRESETS` is the registry of them all,
which extensions add theirs to, and :func:`build` applies one (and a method's recipe, and the
overrides) over the schema's defaults (:mod:`lbt.config.schema`).
"""

from __future__ import annotations

import copy
import difflib
import math
from typing import Any

from lbt.config.schema import CHOICES, Config, apply, set_value, validate
from lbt.errors import LBTError
from lbt.registry import Registry

# LBT with the closed-form kernel-density teacher (lbt.models.teachers.kde). Bandwidths are
# multiples of the data's standard deviation, so the recipe carries over to other radii,
# spacings and mode counts of the same family without retuning; the bandwidth starts wide (every
# generated sample feels the data) and narrows to a fraction of the mode spacing (docs/results.md).
KDE_LBT: dict[str, Any] = {
    "model": {
        "estimator": "kde",
        "kde_relative": True,
        "kde_rule": "anneal",
        "kde_bandwidth": 0.7,
        "kde_bandwidth_final": 0.08,
        "kde_anneal_steps": 1000,
    },
    "lbt": {"unroll_steps": 0, "n_est": 0},
}
KDE_LBT_GAN: dict[str, Any] = {**KDE_LBT, "gan": {"lbt_gan_weight": 0.1}}
# The default recipe (`ring`, `points`): a 64-component Gaussian mixture teacher, five unrolled steps.
DEFAULT_RECIPE: dict[str, Any] = {
    "model": {"estimator": "mixture", "mixture_components": 64},
    "train": {"iterations": 3000, "batch_size": 256, "gen_batch_size": 256, "gen_lr": 2e-3},
    "lbt": {"unroll_steps": 5, "n_est": 1, "est_steps": 5, "est_lr": 1e-2, "est_lr_mult": 1.0},
}
# A zuko neural-spline flow teacher, at `ring-flow`'s teacher rate.
FLOW_LBT: dict[str, Any] = {
    "model": {"estimator": "flow", "flow_kind": "nsf", "flow_transforms": 3, "flow_hidden": 64},
    "lbt": {"est_lr": 3e-3},
}
# What the grid's learned teachers (grid-vae, grid-mixture) share: batches and the generator's rate.
LEARNED_GRID_TRAIN: dict[str, Any] = {"iterations": 20000, "batch_size": 512, "gen_batch_size": 512,
                                      "gen_lr": 3e-3, "gen_lr_final": 1e-4}  # fmt: skip
# The teacher's steps compiled (lbt.compiled), for the methods that have a teacher: in presets whose
# runs are long enough to pay back the compilation (30-60 s) with steps 0.6-0.8x as long.
COMPILED: dict[str, Any] = {"train": {"compile": "inductor"}}


def pacgan_2d(pack: int = 1) -> dict[str, Any]:
    """PacGAN's own 2-D ring / grid settings (fjxmlzn/PacGAN, synthetic_data_experiments/
    2D{Ring,Grid}_GAN&PacGAN: config.py and pacgan_task.py; docs/methods.md lists each source and
    deviation). ``pack=1`` is their GAN; a batch is 100 discriminator inputs of ``pack`` points.
    """
    gan: dict[str, Any] = {"gen_lr": 1e-4, "disc_lr": 1e-4, "disc_steps": 1, "disc_hidden": 200,
                           "disc_layers": 3, "maxout_pieces": 5, "init_std": 0.02,
                           "simultaneous": True}  # fmt: skip
    return {
        "model": {"generator": "mlp-bn", "z_dim": 2, "gen_hidden": 400, "gen_layers": 4,
                  "gen_activation": "relu", "discriminator": "maxout"},
        "gan": {**gan, "pack": pack} if pack > 1 else gan,
        "train": {"iterations": 400_000, "batch_size": 100 * pack, "gen_batch_size": 100 * pack,
                  "beta1": 0.8, "beta2": 0.999, "eps": 1e-8, "clip_norm": 0.0, "gen_lr_final": -1.0},
        "eval": {"every": 1000},  # 400 epochs of 100_000 / 100 batches; they log once per epoch
    }  # fmt: skip


def suite_preset(data: dict[str, Any], iterations: int, every: int, pack: int | None = None) -> dict:
    """A hard 2-D suite preset: the settings every method shares (batches, schedule, budget) and the
    recipes: LBT and LBT-GAN through the kernel-density teacher, MLE fitting that same teacher to
    the data, and with ``pack`` PacGAN's own GAN (``gan@pacgan``) and PacGAN (``pacgan@pacgan``)
    settings."""
    recipes: dict[str, Any] = {"lbt": KDE_LBT, "lbt-gan": KDE_LBT_GAN, "mle": KDE_LBT}
    if pack is not None:
        recipes |= {"gan@pacgan": pacgan_2d(1), "pacgan@pacgan": pacgan_2d(pack)}
    return {
        "data": data,
        "train": {"iterations": iterations, "batch_size": 1024, "gen_batch_size": 2048, "gen_lr": 3e-3,
                  "gen_lr_final": 1e-4},
        "eval": {"every": every},
        "recipes": recipes,
    }  # fmt: skip


# The 2-D presets; :data:`PRESETS` (the registry, below) holds these, the image ones and the extensions'.
CORE_PRESETS: dict[str, dict[str, Any]] = {
    # Fast default: same networks and objective, cheaper exact estimator (see docs/presets.md).
    "ring": {"data": {"name": "ring", "modes": 8, "radius": 1.0, "std": 0.1}, **DEFAULT_RECIPE},
    # A point cloud (the two moons by default; data.name=npy / csv / circles / ...) under the
    # default recipe, with the teachers a user would compare as recipes: lbt@kde, lbt@flow, and the
    # same teachers fitted to the data directly (mle, mle@kde, mle@flow; docs/results.md).
    "points": {
        "data": {"name": "moons"},
        **DEFAULT_RECIPE,
        "eval": {"every": 500},
        "recipes": {"lbt@kde": KDE_LBT, "mle@kde": KDE_LBT, "lbt@flow": FLOW_LBT, "mle@flow": FLOW_LBT},
    },
    # 2-D point clouds with thin structure (curves, rings, small blobs): the kernel-density teacher
    # reading the real data through its own kernel (raw data would ask for samples thinner than the
    # data by the kernel's width), a ReLU generator from 4-D noise (many noise dimensions leave mass
    # between the curves), and a 2,048-sample kernel density (docs/results.md, "Your own data").
    "points-2d": {
        "data": {"name": "moons"},
        "model": {
            **KDE_LBT["model"],
            "kde_smooth_data": True,
            "z_dim": 4,
            "gen_layers": 3,
            "gen_hidden": 256,
            "gen_activation": "relu",
        },
        "train": {
            "iterations": 6000,
            "batch_size": 256,
            "gen_batch_size": 2048,
            "gen_lr": 3e-3,
            "gen_lr_final": 1e-4,
        },
        "lbt": KDE_LBT["lbt"],
        "eval": {"every": 1000},
    },  # fmt: skip
    "ring-kde": {  # the paper's ring taught through the closed-form kernel-density teacher
        "data": {"name": "ring", "modes": 8, "radius": 1.0, "std": 0.1},
        "train": {
            "iterations": 2000,
            "batch_size": 512,
            "gen_batch_size": 1024,
            "gen_lr": 3e-3,
            "gen_lr_final": 1e-4,
        },
        **KDE_LBT,
    },
    # The paper's networks and VAE teacher, made fast: one estimator update a step at a tenfold
    # learning rate, half the batch, a 3x constant generator rate for 2,800 iterations, and the
    # data's own variance (0.1^2) as the decoder's, which the teacher can fit (the official 1e-3
    # keeps its ELBO far below log p): docs/presets.md.
    "ring-vae": {
        "data": {"name": "ring", "modes": 8, "radius": 1.0, "std": 0.1},
        "model": {"estimator": "vae", "vae_x_var": 1e-2},
        "train": {"iterations": 2800, "batch_size": 256, "gen_batch_size": 256, "gen_lr": 3e-3},
        "lbt": {"unroll_steps": 5, "n_est": 1, "est_steps": 5, "est_lr": 1e-3, "est_lr_mult": 3.0},
        "eval": {"every": 500},
    },  # fmt: skip
    "ring-flow": {  # the ring taught through a zuko neural-spline flow (docs/teachers.md)
        "data": {"name": "ring", "modes": 8, "radius": 1.0, "std": 0.1},
        "model": {"estimator": "flow", "flow_kind": "nsf", "flow_transforms": 3, "flow_hidden": 64},
        "train": {"iterations": 3000, "batch_size": 256, "gen_batch_size": 256, "gen_lr": 2e-3},
        "lbt": {"unroll_steps": 5, "n_est": 1, "est_steps": 5, "est_lr": 3e-3, "est_lr_mult": 1.0},
    },
    "ring-implicit": {  # "ring" with the implicit (influence-function) hypergradient
        "data": {"name": "ring", "modes": 8, "radius": 1.0, "std": 0.1},
        "model": {"estimator": "mixture", "mixture_components": 64},
        "train": {"iterations": 3000, "batch_size": 256, "gen_batch_size": 256, "gen_lr": 2e-3},
        "lbt": {
            "unroll_steps": 5,
            "n_est": 1,
            "est_steps": 5,
            "est_lr": 1e-2,
            "est_lr_mult": 1.0,
            "hypergrad": "implicit",
            "implicit_solver": "cg",
            "implicit_iters": 10,
            "implicit_damping": 1.0,  # the mixture's curvature is ~0.01-0.04: see docs/teachers.md
        },
    },
    # The hard 2-D suite: narrow modes (suite_preset: shared settings and per-method recipes).
    # PacGAN's 8-mode ring (VEEGAN's code repeats a mode), radius 1, std 0.01; PacGAN2 is their
    # best ring row (7.9 of 8 modes).
    "ring-narrow": suite_preset({"name": "ring", "modes": 8, "radius": 1.0, "std": 0.01}, 4000, 250, 2),
    # VEEGAN's and PacGAN's 5 x 5 grid at {-4, -2, 0, 2, 4}^2, std 0.05; PacGAN4 is their best
    # grid row (24.8 of 25 modes).
    "grid25": suite_preset({"name": "grid", "modes": 25, "spacing": 2.0, "std": 0.05}, 8000, 250, 4),
    # The LBT paper's 10 x 10 grid, spacing 0.2, std 0.01 (no published PacGAN recipe).
    "grid": suite_preset({"name": "grid", "modes": 100, "spacing": 0.2, "std": 0.01}, 8000, 500),
    # The paper's grid taught through its own kind of teacher, a VAE fitted by gradient steps and
    # unrolled: a categorical latent of 256 codes (each code's Gaussian answers only the samples near
    # it), the codes' widths softly floored, the inner Adam's epsilon capped (docs/presets.md).
    "grid-vae": {
        "data": {"name": "grid", "modes": 100, "spacing": 0.2, "std": 0.01},
        "model": {"estimator": "categorical-vae", "vae_latent": 256, "vae_x_var": 1e-2, "vae_min_std": 0.04},
        # gen_ema: evaluated through the generator's weight average (the same training; the lattice's
        # jitter averaged out: >= 90 modes and HQ >= 0.5 2,000-4,250 iterations sooner)
        "train": {**LEARNED_GRID_TRAIN, "gen_ema": 0.999},
        "lbt": {
            "unroll_steps": 5,
            "n_est": 1,
            "est_steps": 5,
            "est_lr": 1e-2,
            "est_lr_mult": 1.0,
            "adam_eps": 1e-4,
            "fit_adam_eps": 1e-8,
        },
        "eval": {"every": 250},
        "recipes": {"lbt": COMPILED, "lbt-gan": COMPILED},
    },  # fmt: skip
    # The same grid and generator through the best learned teacher found so far: a 256-component
    # Gaussian mixture fitted by gradient steps and unrolled (no closed-form refit), whose
    # components answer locally, as the kernel density's do (docs/presets.md).
    "grid-mixture": {
        "data": {"name": "grid", "modes": 100, "spacing": 0.2, "std": 0.01},
        "model": {"estimator": "mixture", "mixture_components": 256, "mixture_init_std": 0.1},
        "train": LEARNED_GRID_TRAIN,
        "lbt": {"unroll_steps": 5, "n_est": 1, "est_steps": 5, "est_lr": 1e-2, "est_lr_mult": 1.0},
        "eval": {"every": 500},
        "recipes": {"lbt": COMPILED, "lbt-gan": COMPILED},
    },  # fmt: skip
    # The official code's hyperparameters (LBT_toy.py), see docs/presets.md.
    "paper-ring": {
        "data": {"name": "ring", "modes": 8, "radius": 1.0, "std": 0.1},
        "model": {"estimator": "vae"},
        "train": {"iterations": 20000, "batch_size": 512, "gen_batch_size": 512, "gen_lr": 1e-3},
        "lbt": {"unroll_steps": 5, "n_est": 2, "est_steps": 5, "est_lr": 1e-4, "est_lr_mult": 3.0},
        "device": "auto",  # a GPU where there is one (paper-scale)
        "recipes": {"lbt": COMPILED, "lbt-gan": COMPILED},  # 20,000 iterations: the compile pays
    },
    "paper-grid": {
        "data": {"name": "grid", "modes": 100, "spacing": 0.2, "std": 0.01},
        "model": {"estimator": "vae"},
        "train": {"iterations": 50000, "batch_size": 2048, "gen_batch_size": 2048, "gen_lr": 1e-3},
        "lbt": {"unroll_steps": 5, "n_est": 3, "est_steps": 5, "est_lr": 1e-4, "est_lr_mult": 3.0},
        "device": "auto",
    },
}
DEFAULT_PRESET = "ring"


# -- images (MNIST, Stacked MNIST, CIFAR-10, CelebA; docs/images.md) ------------------------------
_MNIST_MODEL = {"generator": "dcgan", "estimator": "bernoulli-vae", "discriminator": "conv",
                "z_dim": 100, "vae_latent": 50}  # fmt: skip
_STACKED_MODEL = {**_MNIST_MODEL, "vae_latent": 256}
# The CPU presets: batch 64, a short unroll, 20 minutes of training at most (time_limit, seconds).
_CPU_TRAIN = {"batch_size": 64, "gen_batch_size": 64, "gen_lr": 1e-3, "time_limit": 1200}
# adam_eps 1e-3: with the official 1e-8 the MNIST generator drifts to black images (docs/images.md).
_CPU_LBT = {
    "unroll_steps": 2,
    "n_est": 1,
    "est_steps": 2,
    "est_lr": 1e-3,
    "est_lr_mult": 1.0,
    "adam_eps": 1e-3,
}
# About 20 minutes on a 2-core CPU (docs/images.md): a narrower generator, a short unroll.
_MNIST_CPU = {
    "data": {"name": "mnist"},
    "model": _MNIST_MODEL,
    "images": {"gen_base": 64, "vae_hidden": "500"},
    "lbt": _CPU_LBT,
    "eval": {"every": 250, "train_samples": 500, "samples": 1000},
}


def _natural(name: str, side: int) -> dict[str, Any]:
    """The official CIFAR-10 / CelebA LBT-GAN settings for ``data.name=name`` at ``side`` x ``side``.

    Shared by LBT-GAN and its GAN baseline (``recipes``); only the generator's loss differs, as
    between the official script with and without ``-lbt``.
    """
    return {
        "data": {"name": name, "image_size": side, "channels": 3},
        "model": {"generator": "dcgan-tanh", "discriminator": "conv-bn", "estimator": "gaussian-vae",
                  "z_dim": 256, "vae_latent": 256, "vae_x_var": math.exp(-1.0)},
        "images": {"gen_base": 512, "gen_kernel": 5, "disc_width": 64, "vae_hidden": "1000,400",
                   "vae_activation": "relu", "grid": 10},
        "train": {"method": "lbt-gan", "iterations": 300_000, "batch_size": 512, "gen_batch_size": 512,
                  "gen_lr": 1e-4, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8, "clip_norm": 0.0},
        "lbt": {"unroll_steps": 5, "n_est": 3, "est_steps": 5, "est_lr": 1e-4, "est_lr_mult": 3.0,
                "inner_optimizer": "adam", "adam_eps": 1e-8, "adam_eps_inside_sqrt": True,
                "adam_second_moment_grad": False},
        "gan": {"disc_lr": 1e-4, "disc_steps": 1, "lbt_gan_weight": 1.0, "lbt_gan_warmup": 3000,
                "lbt_gan_warmup_fit": False},
        "eval": {"every": 5000, "train_samples": 5000, "samples": 10_000},
        "device": "auto",
        # The GAN baseline: the official script without -lbt (G's loss is the GAN loss alone, same
        # networks, batch, Adam and learning rates; gan.gen_lr is the pure GAN's generator rate).
        "recipes": {"gan": {"gan": {"gen_lr": 1e-4}}},
    }  # fmt: skip


IMAGE_PRESETS: dict[str, dict[str, Any]] = {
    # The implicit hypergradient: through the K=2 unroll the generator settled on simple images
    # that the VAE fits too well; the implicit one teaches it the data's variety. Its solve starts
    # from the last update's solution, so 4 products do better than 10 from zero (docs/images.md).
    # The teacher's own fit takes the official epsilon, as in mnist-lbt-gan. 30 minutes of
    # training, the budget its 10-nat target is measured in: 7,200 iterations is about what one
    # CPU thread makes in it, the second half on a cosine-decayed generator rate, which ends the
    # teacher about 1 nat nearer the data-fitted VAE (docs/images.md).
    "mnist": {
        **_MNIST_CPU,
        "train": {
            **_CPU_TRAIN,
            "method": "lbt",
            "iterations": 7200,
            "time_limit": 1800,
            "gen_lr_final": 1e-4,
            "gen_lr_hold": 0.5,
        },
        "lbt": {
            **_CPU_LBT,
            "hypergrad": "implicit",
            "implicit_warm_start": True,
            "implicit_iters": 4,
            "fit_adam_eps": 1e-8,
        },
    },
    # The same networks with the GAN term (lambda 10): sharper samples and a better test ELBO per
    # CPU minute. Through the unroll: here the implicit hypergradient was slower for no gain.
    # Six teacher steps per iteration: the teacher, not the generator, was the lag. D learns at G's
    # rate: at the default, ten times slower, D stayed near chance and taught G little. The
    # teacher's own fit takes the official epsilon (the unroll keeps 1e-3), as the reference's does.
    "mnist-lbt-gan": {
        **_MNIST_CPU,
        "train": {**_CPU_TRAIN, "method": "lbt-gan", "iterations": 3000},
        "lbt": {**_CPU_LBT, "est_steps": 6, "fit_adam_eps": 1e-8},
        "gan": {"lbt_gan_weight": 10.0, "disc_lr": _CPU_TRAIN["gen_lr"]},
        # The held-out scores are the teacher's weight average's (evaluation only; docs/images.md).
        "recipes": {"lbt-gan": {"train": {"est_ema": 0.99}}},
    },
    "stacked-mnist": {
        "data": {"name": "stacked-mnist"},
        "model": _STACKED_MODEL,
        "images": {"gen_base": 32, "vae_hidden": "1000,400", "test_images": 2000},
        # 30 minutes of training (the time limit binds before the iterations on 2 CPU cores)
        "train": {**_CPU_TRAIN, "method": "lbt-gan", "iterations": 20000, "time_limit": 1800},
        "lbt": _CPU_LBT,
        # LBT-GAN on PacGAN's packed discriminator, teaching on one iteration in ten: the fit and
        # the unroll cost most of an iteration, and this spends them on GAN steps instead. With
        # the machine's two threads: 1000 modes, KL 0.12 +- 0.01 (3 seeds; docs/images.md).
        "gan": {
            "disc_lr": 2e-4,
            "lbt_gan_weight": 10.0,
            "lbt_gan_warmup": 300,
            "lbt_gan_pack": 2,
            "lbt_gan_teach_every": 10,
        },
        "eval": {"every": 250, "train_samples": 5000, "samples": 26000},
    },
    # The paper's settings as far as they are known (docs/images.md lists every choice); GPU.
    "paper-mnist": {
        "data": {"name": "mnist"},
        "model": _MNIST_MODEL,
        "images": {"gen_base": 128, "vae_hidden": "500"},
        "train": {
            "method": "lbt",
            "iterations": 50000,
            "batch_size": 64,
            "gen_batch_size": 64,
            "gen_lr": 1e-3,
        },
        "lbt": {"unroll_steps": 5, "n_est": 1, "est_steps": 5, "est_lr": 1e-3, "est_lr_mult": 1.0},
        "eval": {"every": 1000, "train_samples": 1000, "samples": 10000},
        "device": "auto",
    },
    # The official code (LBT-GAN_smnist.py) as docs/images.md reads it.
    "paper-stacked-mnist": {
        "data": {"name": "stacked-mnist"},
        "model": {**_STACKED_MODEL, "z_dim": 256},
        "images": {
            "gen_base": 32,
            "gen_kernel": 5,
            "vae_hidden": "1000,400",
            "vae_activation": "relu",
            "disc_width": 16,
        },  # fmt: skip
        "train": {
            "method": "lbt-gan",
            "iterations": 300000,
            "batch_size": 512,
            "gen_batch_size": 512,
            "gen_lr": 1e-4,
            "clip_norm": 0.0,
        },
        "lbt": {"unroll_steps": 5, "n_est": 3, "est_steps": 5, "est_lr": 1e-4, "est_lr_mult": 3.0},
        "gan": {
            "disc_lr": 1e-4,
            "disc_steps": 1,
            "lbt_gan_weight": 1.0,
            "lbt_gan_warmup": 3000,
            "lbt_gan_warmup_fit": False,
        },  # fmt: skip
        "eval": {"every": 5000, "train_samples": 10000, "samples": 26000},
        "device": "auto",
    },
    # The official LBT-GAN natural-image scripts (LBT-GAN_cifar10.py, LBT-GAN_celeba.py) as
    # docs/images.md reads them; GPU scale. `lbt compare --methods lbt-gan,gan` pairs each with
    # the official GAN baseline (the same script without -lbt) on the same budget.
    "cifar10-lbt-gan": _natural("cifar10", 32),
    "celeba-lbt-gan": _natural("folder", 64),  # needs --set data.path=DIR (aligned CelebA images)
    "folder-lbt-gan": _natural("folder", 32),  # needs --set data.path=DIR
}


# -- the registry, and a config built from a preset ------------------------------------------
# Every preset by name: the core ones and those the extensions register.
PRESETS: Registry[dict[str, Any]] = Registry("preset", CORE_PRESETS | IMAGE_PRESETS)


def register_preset(
    name: str, values: dict[str, Any], choices: dict[str, tuple[str, ...]] | None = None
) -> None:
    """Add a preset and extend the allowed choices of some keys (``registry.presets`` and
    ``registry.choices`` in an extension's ``register`` do the same)."""
    PRESETS[name] = values
    for key, extra in (choices or {}).items():
        CHOICES[key] = tuple(dict.fromkeys(CHOICES.get(key, ()) + extra))


def recipe_key(method: str, recipe: str = "") -> str:
    """How a preset names a method's recipe: ``gan``, or ``gan@pacgan`` for a named variant."""
    return f"{method}@{recipe}" if recipe else method


def split_method(spec: str) -> tuple[str, str]:
    """``gan@pacgan`` -> (``gan``, ``pacgan``); ``lbt`` -> (``lbt``, ``""``)."""
    method, _, recipe = spec.partition("@")
    return method, recipe


def build(
    preset: str | None = None,
    overrides: list[tuple[str, Any]] | dict[str, Any] | None = None,
    **top: Any,
) -> Config:
    """Defaults, the preset, its recipe for the chosen method, ``overrides``, then validation."""
    return validate(resolve(preset, overrides, **top))


def resolve(
    preset: str | None = None,
    overrides: list[tuple[str, Any]] | dict[str, Any] | None = None,
    **top: Any,
) -> Config:
    """:func:`build` without the validation (``lbt presets`` shows presets that need a path).

    A preset may hold ``recipes``: per-method overrides keyed by method name (applied when that
    method is trained) or ``method@name`` (applied on top when ``recipe=name`` is also set, e.g.
    the settings of a baseline's own paper).
    """
    name = preset or DEFAULT_PRESET
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise LBTError(f"unknown preset {name!r} (available: {', '.join(sorted(PRESETS))}){hint}")
    items = list(overrides.items() if isinstance(overrides, dict) else (overrides or []))
    items += [(k, v) for k, v in top.items() if v is not None]
    values = dict(PRESETS[name])
    recipes: dict[str, dict[str, Any]] = values.pop("recipes", {})
    cfg = Config()
    apply(cfg, values)
    probe = copy.deepcopy(cfg)  # which method and recipe the overrides ask for
    for k, v in items:
        set_value(probe, k, v)
    method, recipe = probe.train.method, probe.recipe
    if method in recipes:
        apply(cfg, recipes[method])
    if recipe:
        key = recipe_key(method, recipe)
        if key not in recipes:
            have = sorted(k for k in recipes if "@" in k)
            raise LBTError(f"preset {name!r} has no recipe {key!r} (it has: {', '.join(have) or 'none'})")
        apply(cfg, recipes[key])
    cfg.preset = name
    for k, v in items:
        set_value(cfg, k, v)
    return cfg
