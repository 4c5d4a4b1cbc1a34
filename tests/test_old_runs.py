"""Run directories written by an older version (tests/fixtures/old_runs) still evaluate and resume,
to the numbers that version wrote."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import as_written

from lbt import Trainer, config
from lbt.errors import LBTError

FIXTURES = Path(__file__).parent / "fixtures" / "old_runs"
TIMING = {"train_seconds", "wall_seconds"}


def _rows(path: Path) -> list[dict[str, float]]:
    with path.open() as f:
        return [{k: float(v) for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


@pytest.mark.parametrize("preset", ["ring", "ring-vae"])
def test_an_old_run_evaluates_to_its_own_final_metrics(preset, tmp_path):
    run = shutil.copytree(FIXTURES / preset, tmp_path / preset)
    trainer = Trainer.resume(run, progress=False)
    again = trainer.evaluate(trainer.cfg.eval.samples, seed_offset=7, final=True)
    before = json.loads((run / "metrics.json").read_text())
    for key in ("modes_covered", "high_quality_fraction", "inner_mode_kl", "elbo_gen", "elbo_data"):
        assert again[key] == pytest.approx(before[key], rel=1e-6), key


def _as_written(row: dict[str, object]) -> dict[str, object]:
    return {k: as_written(k, v, rel=1e-5) for k, v in row.items()}


@pytest.mark.parametrize("preset", ["ring", "ring-vae"])
def test_an_old_run_resumes_to_the_numbers_its_own_code_wrote(preset, tmp_path):
    run = shutil.copytree(FIXTURES / preset, tmp_path / preset)
    Trainer.resume(run, [("train.iterations", 6)], progress=False).fit()
    then_rows = _rows(FIXTURES / preset / "history_resumed_to_6.csv")
    assert _rows(run / "history.csv") == [_as_written(row) for row in then_rows]
    now = json.loads((run / "metrics.json").read_text())
    then = json.loads((FIXTURES / preset / "metrics_resumed_to_6.json").read_text())
    assert {k: v for k, v in now.items() if k not in TIMING} == _as_written(
        {k: v for k, v in then.items() if k not in TIMING}
    )


def test_removed_keys_at_their_last_default_load_and_resume(tmp_path):
    """The fixtures' config.yaml (and their checkpoints' copy) name the removed keys of their day at
    their last default (a later key is added here): loading drops them, as if the file never had
    them, and the run resumes."""
    run = shutil.copytree(FIXTURES / "ring", tmp_path / "ring")
    doc = yaml.safe_load((run / "config.yaml").read_text())
    later = {"model.vae_fourier": 0, "model.vae_residual": False}  # removed after the fixtures were written
    for key, value in later.items():
        doc["model"][key.split(".")[1]] = value
    (run / "config.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    popped = set()
    for key, (default, _) in config.REMOVED.items():
        section, name = key.split(".")
        if name in doc[section]:  # the fixture's own removed keys and the later ones set above
            assert doc[section].pop(name) == default, key
            popped.add(key)
    assert popped == {k for k, (_, commit) in config.REMOVED.items() if commit == "b8ee25d"} | set(later)
    (tmp_path / "without.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert config.load(run / "config.yaml") == config.load(tmp_path / "without.yaml")
    trainer = Trainer.resume(run, [("train.iterations", 6)], progress=False)
    trainer.fit()
    assert trainer.iteration == 6


REFUSED = [("lbt.fit_lr_final", 1e-4), ("gan.lbt_gan_weight_final", 0.0), ("lbt.fit_gen_average", True),
           ("lbt.fit_lr_hold", "soon")]  # fmt: skip


@pytest.mark.parametrize(("key", "value"), REFUSED)
def test_a_removed_key_set_otherwise_is_refused_with_one_line(key, value, tmp_path):
    run = shutil.copytree(FIXTURES / "ring", tmp_path / "ring")
    doc = yaml.safe_load((run / "config.yaml").read_text())
    section, name = key.split(".")
    doc[section][name] = value
    (run / "config.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    commit = config.REMOVED[key][1]
    line = f"{key}={value!r} was removed in this version; it last existed in commit {commit}: "
    line += "notes/journal.md"
    for attempt in (lambda: config.load(run / "config.yaml"), lambda: Trainer.resume(run, progress=False)):
        with pytest.raises(LBTError, match=re.escape(line)) as info:
            attempt()
        assert str(info.value) == line
    with pytest.raises(LBTError, match=re.escape(line)):  # a checkpoint's copy of the config alike
        config.from_dict(doc)
    with pytest.raises(LBTError, match=re.escape(f"{key} was removed in this version")):  # --set
        config.build("ring", [(key, str(value))])
