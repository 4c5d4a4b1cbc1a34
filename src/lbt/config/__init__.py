"""Run configuration: the typed schema, the named presets, and a run's ``config.yaml``.

* :mod:`lbt.config.schema` -- the sections, their ranges and choices, ``key=value`` overrides and
  validation;
* :mod:`lbt.config.presets` -- the presets as data, their registry and :func:`build`;
* :mod:`lbt.config.io` -- saving and loading ``config.yaml``, and what a resume may change.

Everything is importable from ``lbt.config`` itself, which is how the rest of the package reads it.
"""

from lbt.config.io import RESUMABLE_PREFIXES, check_resumable, from_dict, load, save
from lbt.config.presets import (
    DEFAULT_PRESET,
    IMAGE_PRESETS,
    KDE_LBT,
    KDE_LBT_GAN,
    PRESETS,
    build,
    pacgan_2d,
    recipe_key,
    register_preset,
    split_method,
)
from lbt.config.schema import (
    BINARIZE,
    CHOICES,
    NON_NEGATIVE,
    POSITIVE,
    REMOVED,
    SECTIONS,
    UNIT_INTERVAL,
    Config,
    DataConfig,
    EvalConfig,
    GANConfig,
    ImageConfig,
    LBTConfig,
    ModelConfig,
    TrainConfig,
    apply,
    choices,
    keys,
    parse_overrides,
    registry_choices,
    set_value,
    validate,
)

__all__ = [
    "BINARIZE", "CHOICES", "DEFAULT_PRESET", "IMAGE_PRESETS", "KDE_LBT", "KDE_LBT_GAN", "NON_NEGATIVE",
    "POSITIVE", "PRESETS", "REMOVED", "RESUMABLE_PREFIXES", "SECTIONS", "UNIT_INTERVAL", "Config",
    "DataConfig", "EvalConfig", "GANConfig", "ImageConfig", "LBTConfig", "ModelConfig", "TrainConfig",
    "apply", "build", "check_resumable", "choices", "from_dict", "keys", "load", "pacgan_2d",
    "parse_overrides", "recipe_key", "register_preset", "registry_choices", "save", "set_value",
    "split_method", "validate",
]  # fmt: skip
