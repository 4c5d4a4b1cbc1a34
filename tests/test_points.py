"""Point clouds: the metrics (precision / recall, energy distance, held-out likelihood), the held-out
split and standardisation, CSV reading, the built-in densities, and a 5,000-D cloud end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lbt import compare as cmp
from lbt.config import build
from lbt.datasets import DATASETS, HasUnits, PointCloud, make_data, ring
from lbt.datasets.readers import read_csv
from lbt.errors import LBTError
from lbt.metrics.points import two_sample
from lbt.train import Trainer

FAST = {"train.batch_size": 32, "train.gen_batch_size": 32, "eval.every": 2, "eval.train_samples": 500}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def points_file(tmp_path: Path, arr: np.ndarray, name: str = "pts.npy") -> Path:
    path = tmp_path / name
    np.save(path, arr.astype(np.float32))
    return path


# -- the metrics ---------------------------------------------------------------------------------
def test_a_sample_against_itself_scores_one_and_a_shifted_copy_scores_low() -> None:
    x = torch.randn(800, 5, generator=gen(0))
    same = two_sample(x, x.clone())
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    assert abs(same["energy_distance"]) < 0.02
    near, far = (two_sample(x, x + torch.tensor([s, 0, 0, 0, 0])) for s in (3.0, 6.0))
    assert near["precision"] < 0.6 and near["recall"] < 0.6  # a k-NN ball in 5-D reaches far
    assert far["precision"] < 0.05 and far["recall"] < 0.05
    # Known answer: for N(0, I) against N(m, I) the energy distance is 2 E|Z + m| - 2 E|Z|, Z ~ N(0, 2I)
    z = torch.randn(400_000, 5, generator=gen(1), dtype=torch.float64) * 2**0.5
    for est, s in ((near, 3.0), (far, 6.0)):
        truth = float(
            2 * (z + torch.tensor([s, 0, 0, 0, 0], dtype=z.dtype)).norm(dim=1).mean()
            - 2 * z.norm(dim=1).mean()
        )
        assert est["energy_distance"] == pytest.approx(truth, rel=0.05), s  # 2.36 and 7.28
    # the chunked estimate equals the U-statistic computed directly from all pairwise distances
    y = x + torch.tensor([3.0, 0, 0, 0, 0])
    n = len(x)
    within = (torch.cdist(x, x).sum() + torch.cdist(y, y).sum()) / (n * (n - 1))
    direct = 2 * torch.cdist(y, x).mean() - within
    assert near["energy_distance"] == pytest.approx(float(direct), rel=1e-4)


def test_half_the_modes_dropped_halves_recall_keeps_precision() -> None:
    torch.manual_seed(0)
    mix = ring(8, 1.0, 0.05)
    real = mix.sample(2000, gen(1))
    idx = torch.randint(0, 4, (2000,), generator=gen(2))  # modes 0-3 only
    fake = mix.means[idx] + 0.05 * torch.randn(2000, 2, generator=gen(3))
    m = two_sample(real, fake)
    assert 0.4 < m["recall"] < 0.6
    assert m["precision"] > 0.9


def test_energy_distance_is_about_zero_for_one_distribution_and_grows_with_a_shift() -> None:
    a, b = torch.randn(1500, 3, generator=gen(4)), torch.randn(1500, 3, generator=gen(5))
    same = two_sample(a, b)["energy_distance"]
    near = two_sample(a, b + 0.5)["energy_distance"]
    far = two_sample(a, b + 1.5)["energy_distance"]
    assert abs(same) < 0.01
    assert 0.05 < near < far


def test_chunked_blocks_give_the_unchunked_numbers() -> None:
    a, b = torch.randn(300, 4, generator=gen(6)), torch.randn(250, 4, generator=gen(7)) + 0.3
    whole, blocks = two_sample(a, b, chunk=4096), two_sample(a, b, chunk=7)
    assert blocks["precision"] == whole["precision"] and blocks["recall"] == whole["recall"]
    assert blocks["energy_distance"] == pytest.approx(whole["energy_distance"], rel=1e-6)


def gaussian_log_density(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """log N(x; mean, diag(std^2)) per row, written out (no scipy)."""
    z = (x - mean) / std
    return (-0.5 * z**2 - np.log(std) - 0.5 * math.log(2 * math.pi)).sum(1)


def test_heldout_loglik_of_a_gaussian_teacher_is_the_closed_form_in_data_units(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    raw = (np.array([5.0, -2.0, 0.0]) + np.array([3.0, 0.1, 1.0]) * rng.normal(size=(400, 3))).astype(
        np.float32
    )
    path = points_file(tmp_path, raw)
    tr = Trainer(overrides={"data.name": "npy", "data.path": str(path), "model.estimator": "gaussian"},
                 progress=False)  # fmt: skip
    mu, log_sigma = torch.tensor([0.1, -0.2, 0.3]), torch.tensor([0.0, 0.2, -0.1])
    with torch.no_grad():
        tr.method.estimator.mean.copy_(mu)
        tr.method.estimator.log_std.copy_(log_sigma)
    got = tr.evaluate(500)
    data = tr.data
    c, s = data.center.double().numpy(), data.scale.double().numpy()
    # the teacher in data units: N(c + s mu, (s sigma)^2)
    x = raw[data.heldout_index].astype(np.float64)
    want = gaussian_log_density(x, c + s * mu.double().numpy(), s * np.exp(log_sigma.double().numpy())).mean()
    assert got["heldout_loglik"] == pytest.approx(want, rel=1e-5)
    assert "heldout_elbo" not in got and len(x) == 80


def test_without_a_holdout_the_metrics_compare_with_training_rows(tmp_path: Path) -> None:
    path = points_file(tmp_path, np.random.default_rng(0).normal(size=(100, 3)))
    tr = Trainer(overrides={"data.name": "npy", "data.path": str(path), "data.holdout": 0}, progress=False)
    got = tr.evaluate(1000)
    assert len(tr.data.test) == 0 and got["point_samples"] == 50 and got["precision_floor"] > 0.5
    assert "heldout_loglik" not in got and len(tr.data.extent()) == 4


def test_a_vae_teacher_reports_a_bound_under_its_own_name(tmp_path: Path) -> None:
    path = points_file(tmp_path, np.random.default_rng(0).normal(size=(100, 2)))
    tr = Trainer(
        overrides={"data.name": "npy", "data.path": str(path), "model.estimator": "vae"}, progress=False
    )
    got = tr.evaluate(100)
    assert "heldout_elbo" in got and "heldout_loglik" not in got


# -- split and standardisation ---------------------------------------------------------------------
def test_heldout_rows_are_never_trained_on_and_survive_a_resume(tmp_path: Path) -> None:
    n = 300
    raw = np.stack([np.arange(n), np.random.default_rng(1).normal(size=n) * 7 + 40], 1)  # column 0: row id
    path = points_file(tmp_path, raw)
    over = {"data.name": "npy", "data.path": str(path), "train.iterations": 2, **FAST}
    tr = Trainer(overrides=over, out_dir=tmp_path / "run", progress=False)
    held = set(tr.data.heldout_index.tolist())
    assert len(held) == 60 and held.isdisjoint(tr.data.train_index.tolist())
    assert sorted(held | set(tr.data.train_index.tolist())) == list(range(n))
    batches: list[torch.Tensor] = []
    draw = tr.data_fn
    tr.data_fn = lambda k: batches.append(draw(k)) or batches[-1]  # every batch the method takes
    tr.fit()
    assert batches
    ids = torch.cat([tr.data.to_data_units(b) for b in batches])[:, 0].round().long().tolist()
    assert held.isdisjoint(ids)
    units = json.loads((tmp_path / "run" / "standardization.json").read_text())
    assert units["heldout_rows"] == 60 and units["mean"][1] == pytest.approx(float(tr.data.center[1]))

    again = Trainer.resume(tmp_path / "run", [("train.iterations", 4)], progress=False)
    assert np.array_equal(again.data.heldout_index, tr.data.heldout_index)
    assert torch.equal(again.data.center, tr.data.center) and torch.equal(again.data.scale, tr.data.scale)
    other_seed = make_data(build(None, [*over.items(), ("seed", 3)]))  # every seed shares the split
    assert np.array_equal(other_seed.heldout_index, tr.data.heldout_index)
    moved = make_data(build(None, [*over.items(), ("data.holdout_seed", 1)]))
    assert not np.array_equal(moved.heldout_index, tr.data.heldout_index)


def test_trainer_sample_is_in_data_units(tmp_path: Path) -> None:
    path = points_file(tmp_path, 1000 + 50 * np.random.default_rng(2).normal(size=(200, 2)))
    tr = Trainer(overrides={"data.name": "npy", "data.path": str(path)}, progress=False)
    assert isinstance(tr.data, HasUnits)
    torch.manual_seed(0)
    x = tr.sample(100)
    torch.manual_seed(0)
    raw = tr.method.sample(100)
    assert torch.allclose(x, raw * tr.data.scale + tr.data.center)
    assert 500 < float(x[:, 0].mean()) < 1500  # near the data, not near 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"data.holdout": 1.0}, "data.holdout must lie in [0, 1)"),
        ({"data.holdout": -0.1}, "data.holdout must lie in [0, 1)"),
        ({"data.holdout": 0.1}, "holds out 2; the metrics need at least 8"),
        ({"data.holdout": 0.95}, "leaves 1 to train on"),
        ({"eval.point_samples": 3}, "eval.point_samples=3 must exceed eval.knn_k=3"),
    ],
)
def test_a_bad_split_is_one_clear_error(tmp_path: Path, overrides: dict, message: str) -> None:
    path = points_file(tmp_path, np.random.default_rng(0).normal(size=(20, 2)))
    with pytest.raises(LBTError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        make_data(build(None, {"data.name": "npy", "data.path": str(path), **overrides}.items()))


# -- CSV -------------------------------------------------------------------------------------------
def test_csv_header_is_detected(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("x, y\n1, 2\n3,4\n\n5.5,6e1\n")
    (tmp_path / "n.csv").write_text("1,2\n3,4\n")
    assert read_csv(tmp_path / "h.csv").tolist() == [[1, 2], [3, 4], [5.5, 60]]
    assert read_csv(tmp_path / "n.csv").tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x,y\n1,2\n3,abc\n", "line 3, column 2 ('y'): 'abc' is not a number"),
        ("1,2\n3,\n", "line 2, column 2: '' is not a number"),
        ("1,2\n3,inf\n", "line 2, column 2: 'inf' is NaN or infinite"),
        ("1,2\n3\n", "line 2 has 1 columns; expected 2"),
        ("", "is empty"),
        ("x,y\n", "has a header but no data rows"),
        ("1,2\n", "holds 1 data row(s)"),
    ],
)
def test_a_bad_csv_is_one_line_naming_where(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(LBTError) as err:
        read_csv(tmp_path / "bad.csv")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_constant_column_loads_and_trains(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = "\n".join(f"{a:.4f},0.1,{b:.4f}" for a, b in rng.normal(size=(120, 2)))
    (tmp_path / "c.csv").write_text("a,const,b\n" + rows + "\n")
    over = {"data.name": "csv", "data.path": str(tmp_path / "c.csv"), "train.iterations": 2, **FAST}
    tr = Trainer(overrides=over, progress=False)
    assert float(tr.data.scale[1]) == 1.0 and float(tr.data.center[1]) == pytest.approx(0.1)
    assert torch.equal(tr.data.train[:, 1], torch.zeros(len(tr.data.train)))
    metrics = tr.fit()
    for key in ("precision", "recall", "energy_distance", "heldout_loglik"):
        assert math.isfinite(metrics[key]), key


# -- built-in densities ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["moons", "circles", "swissroll", "gaussians8", "rings"])
def test_builtin_densities_are_seeded_point_clouds(name: str) -> None:
    cfg = build(None, [("data.name", name), ("data.points", 400)])
    a, b = DATASETS[name](cfg), DATASETS[name](cfg)
    assert isinstance(a, PointCloud) and a.dim == 2 and len(a.train) + len(a.test) == 400
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    other = DATASETS[name](build(None, [("data.name", name), ("data.points", 400), ("data.holdout_seed", 1)]))
    assert not torch.equal(a.test, other.test)


def test_gaussians8_has_its_eight_modes_on_ffjords_circle() -> None:
    data = DATASETS["gaussians8"](build(None, [("data.name", "gaussians8"), ("data.points", 800),
                                               ("data.noise", 0.02)]))  # fmt: skip
    pts = data.to_data_units(torch.cat([data.train, data.test]))
    assert torch.allclose(pts.norm(dim=1), torch.full((800,), 4 / math.sqrt(2)), atol=0.1)
    angles = torch.round(torch.atan2(pts[:, 1], pts[:, 0]) / (math.pi / 4)).long() % 8
    assert len(angles.unique()) == 8


# -- compare's table ---------------------------------------------------------------------------------
def test_compare_table_shows_point_columns_only_when_runs_have_them() -> None:
    point_run = {"precision": 0.8, "recall": 0.7, "energy_distance": 0.01, "precision_floor": 0.98,
                 "recall_floor": 0.97, "energy_distance_floor": 0.0001, "iterations": 5,
                 "train_seconds": 1.0}  # fmt: skip
    md = cmp.table_markdown(cmp.summarize({"lbt": [point_run]}), "t", "b")
    assert "precision (data vs data 0.980)" in md and "energy distance" in md and "inner-mode KL" not in md
    assert "ranked by energy distance" in md
    mixture_run = {"modes_covered": 8, "high_quality_fraction": 0.9, "inner_mode_kl": 0.1, "iterations": 5,
                   "train_seconds": 1.0}  # fmt: skip
    md = cmp.table_markdown(cmp.summarize({"lbt": [mixture_run]}), "t", "b")
    assert "precision" not in md and "inner-mode KL" in md
    assert "precision" not in cmp.table_csv(cmp.summarize({"lbt": [mixture_run]}), "b")


# -- a 5,000-dimensional cloud end to end --------------------------------------------------------------
def test_a_5000_dimensional_npy_trains_and_evaluates_through_the_cli(tmp_path: Path, cli) -> None:  # noqa: ANN001
    path = points_file(tmp_path, np.random.default_rng(0).normal(size=(60, 5000)))
    out = tmp_path / "run"
    res = cli("train", "--set", "data.name=npy", "--set", f"data.path={path}", "--set", "train.iterations=2",
              "--out", str(out), "--no-progress")  # fmt: skip
    assert res.returncode == 0, res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("precision", "recall", "energy_distance", "precision_floor", "recall_floor",
                "energy_distance_floor", "heldout_loglik"):  # fmt: skip
        assert key in metrics and math.isfinite(metrics[key]), key
    assert metrics["point_samples"] == 6  # 12 held-out rows: two halves of 6
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert "precision" in header and "energy_distance_floor" in header
    for name in ("pairs.png", "marginals.png", "curves.png", "standardization.json"):
        assert (out / name).is_file(), name
    assert "data vs data" in res.stdout


def test_points_2d_is_a_kde_teacher_over_a_relu_generator_from_few_noise_dimensions(tmp_path: Path) -> None:
    """The preset's parts, and a short run on the circles that moves the generator onto them: the
    energy distance to the held-out rows falls far below the untrained generator's."""
    cfg = build("points-2d")
    assert cfg.model.estimator == "kde" and cfg.lbt.unroll_steps == 0
    assert cfg.model.gen_activation == "relu" and cfg.model.z_dim <= 8
    assert 0 < cfg.model.kde_bandwidth_final < cfg.model.kde_bandwidth and cfg.model.kde_smooth_data
    fast = {"data.name": "circles", "data.points": 4000, "train.gen_batch_size": 512, "eval.every": 400,
            "eval.point_samples": 800, "model.kde_anneal_steps": 200, "train.iterations": 400}  # fmt: skip
    untrained = Trainer(preset="points-2d", overrides=fast, out_dir=tmp_path / "a", progress=False)
    before = untrained.evaluate()["energy_distance"]
    after = Trainer(preset="points-2d", overrides=fast, out_dir=tmp_path / "b", progress=False).fit()
    assert after["energy_distance"] < before / 5
    assert after["recall"] > 0.5 and after["precision"] > 0.4  # from 0 and 0
