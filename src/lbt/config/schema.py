"""The config schema: typed sections, their ranges and choices, and ``key=value`` overrides.

A config is a tree of dataclasses; its dotted keys (``train.gen_lr``) are what ``--set`` and the
presets address. Every value is coerced to the field's declared type and range-checked, so a
typo or a bad value fails before any work starts, with one line that names the key. Names that
a registry owns (methods, networks, data sets) are checked against that registry at validation
time. The sections are the core ones below (``images.*`` among them) and those an extension
adds to :data:`SECTIONS`.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from lbt.compiled import COMPILE_MODES
from lbt.errors import LBTError
from lbt.methods.lbt import LBTConfig
from lbt.methods.lbt_gan import LBTGANConfig
from lbt.methods.veegan import VEEGANConfig
from lbt.models.generators import GeneratorConfig
from lbt.models.teachers.flow import FlowConfig
from lbt.models.teachers.kde import KDEConfig
from lbt.models.teachers.mixture import MixtureConfig
from lbt.models.teachers.vae import VAEConfig
from lbt.registry import Registry


@dataclass
class DataConfig:
    # ring | grid | npy | csv | moons | circles | swissroll | gaussians8 | rings | mnist | stacked-mnist
    # | folder | cifar10 (lbt.datasets)
    name: str = "ring"
    modes: int = 8
    radius: float = 1.0  # ring
    spacing: float = 0.2  # grid
    std: float = 0.1
    path: str = ""  # npy / csv: an (N, D) table of points; folder: a folder of images; cifar10: the archive
    image_size: int = 32  # folder / cifar10: images resized (shorter side) and centre-cropped to this
    channels: int = 3  # folder / cifar10: 3 (RGB) or 1 (greyscale)
    on_bad_file: str = "skip"  # folder: an undecodable file is skipped (counted, one warning) | error
    # mnist / stacked-mnist: none (grey levels) | dynamic (Bernoulli draw per batch) | static (one
    # fixed draw of the data set); held-out likelihoods use the same binarisation (docs/images.md)
    binarize: str = "none"
    # Point clouds (npy, csv and the built-in densities; lbt.datasets.points, docs/usage.md):
    holdout: float = 0.2  # fraction of the rows held out for the metrics, never trained on
    holdout_seed: int = 0  # the data's seed (not the run's): the held-out split; draws a built-in density
    standardize: bool = True  # train on (x - mean) / std of the training rows (a constant column: std 1)
    points: int = 20_000  # built-in densities (moons, circles, ...): rows drawn
    noise: float = -1.0  # built-in densities: noise std; < 0: the set's own (moons 0.05, ...)


@dataclass
class ModelConfig(GeneratorConfig, VAEConfig, MixtureConfig, KDEConfig, FlowConfig):
    """The ``model`` section: which generator, teacher and discriminator, and each part's own keys,
    declared beside its builder (``KDEConfig`` with the kernel-density teacher, ...)."""

    estimator: str = "vae"  # the teacher: vae, categorical-vae, mixture, kde, flow, ... (ESTIMATORS)
    discriminator: str = "mlp"  # GAN-family methods (lbt.models.DISCRIMINATORS)


@dataclass
class TrainConfig:
    method: str = "lbt"
    iterations: int = 3000
    batch_size: int = 512  # real-data batch
    gen_batch_size: int = 512  # generator samples per inner (unrolled) step
    gen_lr: float = 1e-3
    gen_lr_final: float = -1.0  # < 0: constant; else cosine decay to this value
    gen_lr_hold: float = 0.0  # fraction of the iterations at gen_lr before the cosine decay starts
    gen_ema: float = 0.0  # > 0: evaluate and sample with an EMA of the generator's weights (decay)
    est_ema: float = 0.0  # > 0: evaluate the teacher with an EMA of its weights (decay; lbt, lbt-gan)
    beta1: float = 0.5
    beta2: float = 0.999
    eps: float = 1e-8
    clip_norm: float = 5.0  # global-norm clip of the generator gradient; <= 0 disables
    time_limit: float = 0.0  # seconds of training (evaluation excluded) before stopping; 0 = none
    checkpoint_every: int = 0  # iterations between checkpoints; 0 = at every evaluation
    on_nan: str = "stop"  # stop | rollback (reload the last good checkpoint, lower learning rates)
    max_rollbacks: int = 3
    rollback_lr_factor: float = 0.5
    dist_timeout: float = 300.0  # torchrun: seconds a collective may wait for another rank
    # The teacher's steps and loss: none (eager autograd, the reference) | inductor (torch.compile)
    # | cudagraphs (torch.compile replaying CUDA graphs; a GPU): lbt.compiled, docs/benchmarks.md
    compile: str = "none"
    # CPU threads for torch's operators; 0: OMP_NUM_THREADS where set, else one for point data (the
    # 2-D networks are launch-bound, lbt.train.training_threads) and torch's default for images
    threads: int = 0


@dataclass
class GANConfig(LBTGANConfig, VEEGANConfig):
    """The ``gan`` section, gathered from its parts beside their methods: the adversary and its
    discriminator (``AdversaryConfig``, gan.py; ``DiscriminatorConfig``), VEEGAN's and LBT-GAN's
    own keys; docs/methods.md says where each default comes from."""


@dataclass
class EvalConfig:
    every: int = 250  # iterations between history rows
    train_samples: int = 20_000  # samples for metrics during training
    samples: int = 500_000  # samples for the final metrics
    protocol: str = "paper"  # paper | veegan | pacgan: whose metric rules (docs/metrics.md)
    stop_at_quality: bool = False  # stop once all modes are covered at >= target quality
    target_quality: float = 0.86
    # Image data (lbt.metrics.images, docs/metrics.md "Image metrics"):
    fd_samples: int = 10_000  # generator samples (at most) for fd_classifier (mnist, stacked-mnist)
    inception_weights: str = ""  # local TorchScript Inception-v3 (inception-2015-12-05.pt): fid / kid / IS
    inception_samples: int = 10_000  # generator and real images for fid / kid / inception_score (final)
    # Point clouds (lbt.metrics.points): precision / recall / energy distance on at most this many
    # generated and held-out points per evaluation (and the floors on as many), whatever eval.samples
    point_samples: int = 2000
    knn_k: int = 3  # precision / recall: each point's ball reaches its k-th nearest neighbour


@dataclass
class ImageConfig:
    """The ``images.*`` keys: the image networks and metrics (docs/images.md says where each default
    comes from)."""

    data_dir: str = ""  # the four MNIST files; empty: $LBT_DATA_DIR, else ./data/mnist
    gen_base: int = 128  # DCGAN generator: channels at 7x7 (128 MNIST, 32 Stacked MNIST)
    gen_hidden: int = 1024  # DCGAN generator: first dense layer
    gen_kernel: int = 4  # DCGAN generator: transposed-conv kernel (official Stacked-MNIST code: 5)
    vae_hidden: str = "500"  # Bernoulli VAE hidden widths, comma-separated (K&W MNIST: 500)
    vae_activation: str = "tanh"  # tanh | relu | softplus
    disc_width: int = 64  # conv discriminator: channels of its first conv
    test_images: int = 10_000  # held-out images for elbo_test
    iw_images: int = 1000  # held-out images for iwae_test (final evaluation only)
    iw_samples: int = 100  # importance samples per image for iwae_test
    grid: int = 10  # sample grids are grid x grid images


# Sections an extension adds (name -> dataclass): ``cfg.NAME`` holds one, its fields are keys.
SECTIONS: Registry[type] = Registry("config section")


@dataclass(eq=False)
class Config:
    """The core sections as fields; each section registered in :data:`SECTIONS` as an attribute."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    lbt: LBTConfig = field(default_factory=LBTConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    images: ImageConfig = field(default_factory=ImageConfig)
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | auto
    preset: str = ""
    recipe: str = ""  # a preset's named per-method recipe ("method@recipe" in the preset), e.g. pacgan

    def __post_init__(self) -> None:
        for name, section in SECTIONS.items():
            setattr(self, name, section())

    def sections(self) -> dict[str, Any]:
        """Every section by name: the core ones, then the extensions'."""
        core = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        core = {k: v for k, v in core.items() if dataclasses.is_dataclass(v)}
        return core | {name: getattr(self, name) for name in SECTIONS}

    def to_dict(self) -> dict[str, Any]:
        top = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        scalars = {k: v for k, v in top.items() if not dataclasses.is_dataclass(v)}
        return {k: dataclasses.asdict(v) for k, v in self.sections().items()} | scalars

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.to_dict() == other.to_dict()


# Allowed values of keys that no registry owns; extensions add theirs.
# train.compile: the eager reference, inductor, or inductor replaying CUDA graphs (lbt.compiled).
# data.binarize (mnist, stacked-mnist): grey levels, a Bernoulli draw per batch, one fixed draw.
BINARIZE = ("none", "dynamic", "static")
CHOICES: Registry[tuple[str, ...]] = Registry("config choice", {
    "model.kde_rule": ("fixed", "anneal", "scott"),
    "train.compile": COMPILE_MODES,
    "model.gen_activation": ("tanh", "relu", "leaky_relu"),
    "model.mixture_init": ("random", "samples"),
    "gan.disc_activation": ("relu", "tanh", "leaky_relu"),
    "lbt.inner_optimizer": ("adam", "sgd"),
    "lbt.implicit_solver": ("cg", "neumann"),
    "model.flow_kind": ("nsf", "maf"),
    "train.on_nan": ("stop", "rollback"),
    "eval.protocol": ("paper", "veegan", "pacgan"),
    "data.on_bad_file": ("skip", "error"),
    "device": ("cpu", "cuda", "auto"),
    "images.vae_activation": ("tanh", "relu", "softplus"),
    "data.binarize": BINARIZE,
})  # fmt: skip


def registry_choices() -> dict[str, tuple[str, ...]]:
    """Names owned by a registry, read at validation time: registering a thing is all it takes."""
    from lbt.datasets import DATASETS
    from lbt.hypergrad import HYPERGRADIENTS
    from lbt.methods import METHODS
    from lbt.models import DISCRIMINATORS, ESTIMATORS, GENERATORS

    return {
        "data.name": tuple(DATASETS),
        "model.generator": tuple(GENERATORS),
        "model.estimator": tuple(ESTIMATORS),
        "model.discriminator": tuple(DISCRIMINATORS),
        "train.method": tuple(METHODS),
        "lbt.hypergrad": tuple(HYPERGRADIENTS),
    }


def choices(key: str) -> tuple[str, ...] | None:
    """The allowed values of ``key`` (from its registry or the fixed table), or None if free."""
    return registry_choices().get(key) or CHOICES.get(key)


POSITIVE = {
    "data.modes", "data.radius", "data.spacing", "data.std", "data.image_size", "data.channels",
    "model.z_dim", "model.gen_hidden", "model.est_hidden", "model.vae_latent", "model.vae_x_var",
    "model.mixture_components", "model.mixture_init_std", "model.gen_layers",
    "model.kde_bandwidth", "model.kde_bandwidth_final",
    "train.iterations", "train.batch_size", "train.gen_batch_size", "train.gen_lr", "train.eps",
    "lbt.est_steps", "lbt.est_lr", "lbt.est_lr_mult", "lbt.adam_eps", "lbt.implicit_alpha",
    "model.flow_transforms", "model.flow_hidden",
    "gan.gen_lr", "gan.disc_lr", "gan.disc_steps", "gan.disc_hidden", "gan.disc_layers",
    "gan.unroll_steps", "gan.pack", "gan.lbt_gan_pack", "gan.lbt_gan_teach_every", "gan.rec_hidden",
    "gan.maxout_pieces",
    "eval.every", "eval.train_samples", "eval.samples", "train.dist_timeout",
    "eval.fd_samples", "eval.inception_samples", "eval.point_samples", "eval.knn_k", "data.points",
    "images.gen_base", "images.gen_hidden", "images.gen_kernel", "images.disc_width", "images.test_images",
    "images.iw_images", "images.iw_samples", "images.grid",
}  # fmt: skip
UNIT_INTERVAL = {
    "train.beta1", "train.beta2", "train.gen_ema", "train.est_ema", "eval.target_quality",
    "train.rollback_lr_factor", "train.gen_lr_hold", "data.holdout",
}  # fmt: skip
NON_NEGATIVE = {
    "data.holdout_seed",
    "lbt.fit_adam_eps",
    "lbt.unroll_steps",  # 0: a closed-form teacher (kde) needs no inner steps
    "lbt.n_est",
    "model.kde_anneal_steps",
    "model.vae_min_std",
    "train.time_limit",
    "train.threads",
    "train.checkpoint_every",
    "train.max_rollbacks",
    "train.clip_norm",
    "gan.lbt_gan_warmup",
    "gan.init_std",
    "lbt.implicit_iters",
    "lbt.implicit_damping",
}


# Keys removed from the schema (dotted key -> (its last default, the last commit that had it)):
# options no preset used and no doc recommended (notes/journal.md, 2026-12-06). An old run's
# config.yaml still names them; at their default they changed nothing, so loading drops them.
REMOVED: dict[str, tuple[Any, str]] = {
    "lbt.fit_gen_average": (False, "b8ee25d"),
    "lbt.fit_lr_final": (-1.0, "b8ee25d"),
    "lbt.fit_lr_hold": (0.0, "b8ee25d"),
    "gan.lbt_gan_weight_final": (-1.0, "b8ee25d"),
    "gan.lbt_gan_weight_hold": (0.5, "b8ee25d"),
    "model.vae_fourier": (0, "6b6396c"),  # random Fourier features for the VAE's encoder (probe E)
    "model.vae_fourier_scale": (1.0, "6b6396c"),
    # a learned mixture prior and residual encoder / decoder for the VAE (grid-vae probes G-L)
    "model.vae_prior_components": (0, "1d50547"),
    "model.vae_prior_std": (0.1, "1d50547"),
    "model.vae_prior_rate": (1.0, "1d50547"),
    "model.vae_residual": (False, "1d50547"),
    # the Gaussian-latent VAE's decoder-variance anneal and the teacher's rate anneal (grid-vae
    # probes before the categorical VAE; no preset used them)
    "model.vae_x_var_final": (-1.0, "a343849"),
    "model.vae_anneal_steps": (0, "a343849"),
    "lbt.est_lr_final": (-1.0, "a343849"),
    "lbt.est_lr_anneal_steps": (0, "a343849"),
    # one width per categorical-VAE code: the lattice formed later than with diagonal codes
    "model.vae_isotropic": (False, "7ad1224"),
}


def removed_error(key: str, value: Any = None) -> LBTError:
    """The one line for a removed key: what a run that set it needs is the commit that had it."""
    shown = key if value is None else f"{key}={value!r}"
    return LBTError(f"{shown} was removed in this version; it last existed in commit {REMOVED[key][1]}: "
                    "notes/journal.md")  # fmt: skip


# Keys added later whose default changed what a run does (dotted key -> the behaviour before them):
# a config mapping written before a key existed gets the old behaviour, so an old run resumes and
# evaluates as it was trained (point clouds were neither split nor standardised before 2026-12-06).
ADDED: dict[str, Any] = {"data.holdout": 0.0, "data.standardize": False}


def as_written(values: dict[str, Any]) -> dict[str, Any]:
    """An old run's config mapping as this version reads it: removed keys dropped
    (:func:`drop_removed`), keys added since then at the behaviour of their day (:data:`ADDED`)."""
    out = drop_removed(values)
    for key, old in ADDED.items():
        section, name = key.split(".")
        if isinstance(out.get(section), dict) and name not in out[section]:
            out[section] = {**out[section], name: old}
    return out


def drop_removed(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config mapping (an old config.yaml) without the removed keys it holds at their last
    default, where they did nothing; one set to anything else is refused (:func:`removed_error`),
    since this version cannot train or resume what it did."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        key = prefix + k
        if isinstance(v, dict):
            out[k] = drop_removed(v, key + ".")
        elif key not in REMOVED:
            out[k] = v
        else:
            default = REMOVED[key][0]
            try:
                same = _coerce(key, v, type(default)) == default
            except LBTError:
                same = False
            if not same:
                raise removed_error(key, v)
    return out


def _fields(obj: Any, prefix: str = "") -> dict[str, tuple[Any, dataclasses.Field]]:
    out: dict[str, tuple[Any, dataclasses.Field]] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_fields(value, prefix + f.name + "."))
        else:
            out[prefix + f.name] = (obj, f)
    if isinstance(obj, Config):  # the extensions' sections
        for name in SECTIONS:
            out.update(_fields(getattr(obj, name), prefix + name + "."))
    return out


def keys(cfg: Config | None = None) -> list[str]:
    return sorted(_fields(cfg or Config()))


def _coerce(key: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise LBTError(f"{key} must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise LBTError(f"{key} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        try:
            as_float = float(str(value).replace("_", ""))
        except ValueError:
            raise LBTError(f"{key} must be an integer, got {value!r}") from None
        if not as_float.is_integer():
            raise LBTError(f"{key} must be an integer, got {value!r}")
        return int(as_float)
    if kind is float:
        if isinstance(value, bool):
            raise LBTError(f"{key} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise LBTError(f"{key} must be a number, got {value!r}") from None
    return str(value)


_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def set_value(cfg: Config, key: str, value: Any) -> None:
    """Set one dotted key, coercing to the declared type; unknown keys get a did-you-mean hint."""
    table = _fields(cfg)
    if key not in table:
        if key in REMOVED:
            raise removed_error(key)
        close = difflib.get_close_matches(key, table, n=1)
        hint = f" (did you mean {close[0]}?)" if close else " (see `lbt keys` for the list)"
        raise LBTError(f"unknown config key {key!r}{hint}")
    obj, f = table[key]
    kind = f.type if isinstance(f.type, type) else _TYPES[str(f.type)]
    setattr(obj, f.name, _coerce(key, value, kind))


def apply(cfg: Config, values: dict[str, Any], prefix: str = "") -> None:
    """Apply a nested dict (a preset or a config.yaml) onto ``cfg``."""
    for k, v in values.items():
        if isinstance(v, dict):
            apply(cfg, v, prefix + k + ".")
        else:
            set_value(cfg, prefix + k, v)


def parse_overrides(pairs: list[str]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        if "=" not in pair:
            raise LBTError(f"--set expects key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        out.append((k.strip(), v.strip()))
    return out


def validate(cfg: Config) -> Config:
    """Range and choice checks; the first problem found is raised as one line."""
    allowed = {**CHOICES, **registry_choices()}
    for key, (obj, f) in _fields(cfg).items():
        v = getattr(obj, f.name)
        if key in allowed and v not in allowed[key]:
            raise LBTError(f"{key}={v!r} is not one of: {', '.join(allowed[key])}")
        if key in POSITIVE and not v > 0:
            raise LBTError(f"{key} must be > 0, got {v}")
        if key in NON_NEGATIVE and v < 0:
            raise LBTError(f"{key} must be >= 0, got {v}")
        if key in UNIT_INTERVAL and not 0 <= v < 1 + (key == "eval.target_quality"):
            raise LBTError(f"{key} must lie in [0, 1), got {v}")
    refits = cfg.model.estimator == "kde" or (
        cfg.model.estimator == "mixture" and cfg.model.mixture_init == "samples"
    )
    if cfg.lbt.unroll_steps == 0 and not refits:
        raise LBTError("lbt.unroll_steps=0 needs a teacher fitted in closed form (model.estimator=kde, or "
                       "mixture with model.mixture_init=samples); other teachers need K >= 1")  # fmt: skip
    if cfg.data.name == "npy" and not cfg.data.path:
        raise LBTError("data.name=npy needs data.path=FILE.npy (an N x D array of points)")
    if cfg.data.name == "csv" and not cfg.data.path:
        raise LBTError("data.name=csv needs data.path=FILE.csv (rows of comma-separated numbers)")
    if cfg.data.name == "folder" and not cfg.data.path:
        raise LBTError("data.name=folder needs data.path=DIR (a folder of PNG/JPEG images)")
    if cfg.data.binarize != "none" and cfg.data.name not in ("mnist", "stacked-mnist"):
        raise LBTError(f"data.binarize={cfg.data.binarize} applies to data.name=mnist or stacked-mnist, "
                       f"not {cfg.data.name}; leave it at none")  # fmt: skip
    if cfg.data.channels not in (1, 3):
        raise LBTError(f"data.channels must be 1 (greyscale) or 3 (RGB), got {cfg.data.channels}")
    if cfg.data.name == "grid":
        n = int(cfg.data.modes**0.5 + 0.5)
        if n * n != cfg.data.modes:
            raise LBTError(f"data.modes={cfg.data.modes} is not a square number; a grid needs n x n")
    if cfg.eval.point_samples <= cfg.eval.knn_k:
        raise LBTError(f"eval.point_samples={cfg.eval.point_samples} must exceed eval.knn_k={cfg.eval.knn_k}")
    if cfg.eval.samples < 2 or cfg.eval.train_samples < 2:
        raise LBTError("eval.samples and eval.train_samples must be at least 2")
    return cfg
