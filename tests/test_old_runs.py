"""Run directories written by an older version (tests/fixtures/old_runs) still evaluate and resume,
to the numbers that version wrote."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from lbt import Trainer

FIXTURES = Path(__file__).parent / "fixtures" / "old_runs"
TIMING = {"train_seconds", "wall_seconds"}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


@pytest.mark.parametrize("preset", ["ring", "ring-vae"])
def test_an_old_run_evaluates_to_its_own_final_metrics(preset, tmp_path):
    run = shutil.copytree(FIXTURES / preset, tmp_path / preset)
    trainer = Trainer.resume(run, progress=False)
    again = trainer.evaluate(trainer.cfg.eval.samples, seed_offset=7, final=True)
    before = json.loads((run / "metrics.json").read_text())
    for key in ("modes_covered", "high_quality_fraction", "inner_mode_kl", "elbo_gen", "elbo_data"):
        assert again[key] == pytest.approx(before[key], rel=1e-6), key


@pytest.mark.parametrize("preset", ["ring", "ring-vae"])
def test_an_old_run_resumes_to_the_numbers_its_own_code_wrote(preset, tmp_path):
    run = shutil.copytree(FIXTURES / preset, tmp_path / preset)
    Trainer.resume(run, [("train.iterations", 6)], progress=False).fit()
    assert _rows(run / "history.csv") == _rows(FIXTURES / preset / "history_resumed_to_6.csv")
    now = json.loads((run / "metrics.json").read_text())
    then = json.loads((FIXTURES / preset / "metrics_resumed_to_6.json").read_text())
    assert {k: v for k, v in now.items() if k not in TIMING} == {
        k: v for k, v in then.items() if k not in TIMING
    }
