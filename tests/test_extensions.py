"""Extensions: modules of other distributions declared as entry points (group ``lbt.extensions``) that
add to the registries in ``register(registry)``, loaded once by the CLI and the Trainer; the project's
own image support is in-tree and needs no entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from lbt import config
from lbt.extensions import load_extensions
from lbt.registry import EXTENSION_GROUP, Registry, declared_extensions

THIRD_PARTY = """
from dataclasses import dataclass

from lbt.cli import Command
from lbt.methods.lbt import build_lbt


@dataclass
class ToyConfig:
    scale: float = 1.0
    label: str = "a"


def hello(args):
    print(f"hello from {args.name}")
    return 0


def register(registry):
    registry.sections["toy"] = ToyConfig
    registry.positive.add("toy.scale")
    registry.choices["toy.label"] = ("a", "b")
    registry.methods["toy-lbt"] = build_lbt
    registry.presets["toy-ring"] = {"data": {"name": "ring"}, "train": {"method": "toy-lbt"},
                                    "toy": {"scale": 2.5}}
    registry.commands["hello"] = Command("say hello", hello, lambda p: p.add_argument("name"))
"""

PROBE = """
from lbt.datasets import DATASETS
assert "mnist" in DATASETS  # in-tree: no extension to load
from lbt import config
assert "toy-ring" not in config.PRESETS  # reading a registry loads nothing
from lbt.extensions import load_extensions
assert load_extensions() == ["toy"], load_extensions()
cfg = config.build("toy-ring", {"toy.label": "b"})
assert (cfg.toy.scale, cfg.toy.label, cfg.train.method) == (2.5, "b", "toy-lbt")
assert config.from_dict(cfg.to_dict()) == cfg  # the section travels through config.yaml
assert "toy.scale" in config.keys(cfg) and "mnist" in DATASETS
for bad, msg in (({"toy.scale": 0}, "toy.scale must be > 0"),
                 ({"toy.label": "c"}, "toy.label='c' is not one of: a, b")):
    try:
        config.build("toy-ring", bad)
    except Exception as exc:
        assert msg in str(exc), exc
    else:
        raise AssertionError(bad)
print("ok")
"""


def _install(tmp_path: Path, module: str, source: str) -> dict[str, str]:
    """``module`` as an installed distribution declaring it in ``lbt.extensions``; the environment
    for a subprocess that sees it."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    info = tmp_path / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{EXTENSION_GROUP}]\n{module.removeprefix('lbt_')} = {module}\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    return env


def test_the_image_support_is_in_tree_and_no_extension():
    assert "images" not in [ep.name for ep in declared_extensions()]
    assert "images" not in load_extensions()
    cfg = config.Config()
    assert cfg.images.gen_base == 128 and "images.gen_base" in config.keys(cfg)
    assert "images" in cfg.to_dict() and config.from_dict(cfg.to_dict()) == cfg
    assert config.choices("data.name")[-4:] == ("mnist", "stacked-mnist", "folder", "cifar10")
    assert config.choices("images.vae_activation") == ("tanh", "relu", "softplus")


NO_ENTRY_POINTS = """
import importlib.metadata

importlib.metadata.entry_points = lambda **kw: []  # a checkout used without pip install -e .
from lbt.cli import main

raise SystemExit(main(["presets"]))
"""


def test_a_checkout_without_an_install_has_the_image_presets():
    res = subprocess.run([sys.executable, "-c", NO_ENTRY_POINTS], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and not res.stderr, res.stderr
    listed = {line.split()[0] for line in res.stdout.splitlines()}
    assert {"mnist", "stacked-mnist", "cifar10-lbt-gan"} <= listed


def test_a_registry_is_a_plain_mapping():
    reg: Registry[int] = Registry("thing", {"a": 1})

    @reg.register("b")
    def two() -> int:
        return 2

    assert list(reg) == ["a", "b"] and reg["b"] is two and "c" not in reg and len(reg) == 2
    assert reg.pop("a") == 1 and dict(reg) == {"b": two}


def test_a_third_party_extension_adds_a_section_method_preset_and_command(tmp_path):
    env = _install(tmp_path, "lbt_toy", THIRD_PARTY)
    res = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
    cli = [sys.executable, "-m", "lbt.cli"]
    res = subprocess.run(cli + ["hello", "world"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "hello from world", res.stderr
    res = subprocess.run(cli + ["presets"], env=env, capture_output=True, text=True, timeout=300)
    assert "toy-ring" in res.stdout and "mnist" in res.stdout, res.stderr


def test_a_broken_extension_is_one_error_line(tmp_path):
    env = _install(tmp_path, "lbt_broken", "def register(registry):\n    raise RuntimeError('boom')\n")
    cli = [sys.executable, "-m", "lbt.cli", "presets"]
    res = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1, res.stderr
    assert err[0] == "lbt: error: extension 'broken' (lbt_broken) failed to load: boom"
