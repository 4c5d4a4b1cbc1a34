"""GAN-family baselines and LBT-GAN: each descends its own generator loss and learns a trivial target."""

from __future__ import annotations

import pytest
import torch

from lbt import config
from lbt.errors import LBTError
from lbt.methods import build_method
from lbt.methods.gan import GAN, Adversary, pack

METHODS = ["gan", "unrolled-gan", "pacgan", "veegan", "lbt-gan", "lbt"]
TARGET = torch.tensor([1.5, -1.0])


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread avoids pool overhead on busy 2-core machines."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_cfg(method: str, **extra: object) -> config.Config:
    """Tiny networks and a one-mode target far from where the generator starts."""
    values = {
        "train.method": method, "data.modes": 1, "data.std": 0.05,
        "model.z_dim": 4, "model.gen_hidden": 32, "model.estimator": "gaussian",
        "train.batch_size": 64, "train.gen_batch_size": 64, "train.gen_lr": 1e-2,
        "gan.gen_lr": 1e-2, "gan.disc_lr": 1e-3, "gan.disc_hidden": 32, "gan.rec_hidden": 32,
        "gan.unroll_steps": 2, "lbt.unroll_steps": 2, "lbt.est_lr": 5e-2, "lbt.n_est": 1, "lbt.est_steps": 2,
    }  # fmt: skip
    values.update(extra)
    return config.build("ring", values)


def target(n: int) -> torch.Tensor:
    return TARGET + 0.05 * torch.randn(n, 2)


def generator_loss(method, data) -> torch.Tensor:  # noqa: ANN001
    if hasattr(method, "generator_loss"):
        return method.generator_loss(data)
    return method.teaching_loss(data(method.batch_size))  # the core LBT method


def trainable(method) -> list[torch.nn.Parameter]:  # noqa: ANN001
    mods = [method.generator] + ([method.reconstructor] if hasattr(method, "reconstructor") else [])
    return [p for m in mods for p in m.parameters()]


@pytest.mark.parametrize("name", METHODS)
def test_generator_update_lowers_its_own_loss(name: str) -> None:
    """Under fixed randomness, a small step against the gradient of the method's own generator loss
    (through the unroll, for Unrolled GAN, LBT and LBT-GAN) lowers that loss."""
    torch.manual_seed(0)
    m = build_method(small_cfg(name), 2)
    for _ in range(3):  # let the discriminator / estimator become non-trivial
        m.step(target)
    params = trainable(m)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        before = generator_loss(m, target)
    grads = torch.autograd.grad(before, params, allow_unused=True)
    norm = torch.sqrt(sum((g**2).sum() for g in grads if g is not None))
    assert torch.isfinite(norm) and norm > 0
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            if g is not None:
                p -= 1e-3 * g / norm
    with torch.random.fork_rng():
        torch.manual_seed(1)
        after = generator_loss(m, target)
    assert float(after.detach()) < float(before.detach())


@pytest.mark.parametrize("name", METHODS)
def test_method_learns_a_trivial_target(name: str) -> None:
    """A few dozen iterations on the shared loop's ``step`` move the samples onto a single mode."""
    torch.manual_seed(0)
    m = build_method(small_cfg(name), 2)
    start = float((m.sample(2000).mean(0) - TARGET).norm())
    logs = {}
    for _ in range(80):
        logs = m.step(target)
    end = float((m.sample(2000).mean(0) - TARGET).norm())
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    assert end < 0.5 * start, (start, end)


@pytest.mark.parametrize("name", METHODS)
def test_checkpoint_holds_every_optimizer_state(name: str) -> None:
    torch.manual_seed(0)
    a = build_method(small_cfg(name), 2)
    a.step(target)
    states = a.optimizer_states()
    torch.manual_seed(1)
    b = build_method(small_cfg(name), 2)
    b.load_state_dict(a.state_dict())
    b.load_optimizer_states({k: {n: t.clone() for n, t in v.items()} for k, v in states.items()})
    for k, v in b.optimizer_states().items():
        assert all(torch.equal(v[n], states[k][n]) for n in v), k
    torch.manual_seed(2)
    la = a.step(target)
    torch.manual_seed(2)
    lb = b.step(target)
    assert la == lb


def test_pack_groups_consecutive_samples() -> None:
    x = torch.arange(12.0).reshape(6, 2)
    packed = pack(x, 2)
    assert packed.shape == (3, 4)
    assert torch.equal(packed[1], torch.tensor([4.0, 5.0, 6.0, 7.0]))
    images = torch.randn(4, 1, 3, 3)
    assert pack(images, 2).shape == (2, 2, 3, 3)  # channel-wise for image batches


def test_pacgan_discriminator_sees_packed_input() -> None:
    m = build_method(small_cfg("pacgan", **{"gan.pack": 4}), 2)
    assert m.discriminator[0].in_features == 8
    assert m.adv.logits(torch.randn(64, 2)).shape == (16,)


def test_unrolled_discriminator_is_differentiable_in_the_generator() -> None:
    """Metz et al.: the look-ahead discriminator phi_K depends on theta through the K unrolled steps."""
    torch.manual_seed(0)
    m = build_method(small_cfg("unrolled-gan", **{"gan.unroll_steps": 3}), 2)
    assert isinstance(m, GAN) and isinstance(m.adv, Adversary) and m.unroll_steps == 3
    m.step(target)
    phi = m.adv.look_ahead(lambda: target(64), lambda: m.generator.sample(64), 3)
    probe = sum((v**2).sum() for v in phi.values())
    grads = torch.autograd.grad(probe, list(m.generator.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    plain = m.adv.look_ahead(lambda: target(64), lambda: m.generator.sample(64).detach(), 3)
    assert not any(v.grad_fn is not None and _reaches(v, m.generator) for v in plain.values())


def _reaches(t: torch.Tensor, module: torch.nn.Module) -> bool:
    try:
        grads = torch.autograd.grad(t.sum(), list(module.parameters()), allow_unused=True, retain_graph=True)
    except RuntimeError:
        return False
    return any(g is not None and g.abs().sum() > 0 for g in grads)


def test_lbt_gan_discriminator_packs_and_still_learns() -> None:
    """gan.lbt_gan_pack=4: LBT-GAN's discriminator judges 4 samples per input, in its own update
    and in the generator's GAN loss, and the generator still moves to the target."""
    torch.manual_seed(0)
    m = build_method(small_cfg("lbt-gan", **{"gan.lbt_gan_pack": 4}), 2)
    assert m.discriminator[0].in_features == 8
    assert m.adv.logits(torch.randn(64, 2)).shape == (16,)
    start = float((m.sample(2000).mean(0) - TARGET).norm())
    for _ in range(80):
        m.step(target)
    assert float((m.sample(2000).mean(0) - TARGET).norm()) < 0.5 * start


@pytest.mark.parametrize(("method", "key"), [("pacgan", "gan.pack"), ("lbt-gan", "gan.lbt_gan_pack")])
def test_bad_packing_is_one_clear_error(method: str, key: str) -> None:
    with pytest.raises(LBTError, match=key):
        build_method(small_cfg(method, **{key: 5}), 2)


@pytest.mark.parametrize("fit", [True, False])
def test_lbt_gan_warmup_trains_on_the_gan_loss_first_and_resumes(fit: bool) -> None:
    """gan.lbt_gan_warmup=2: two GAN-only iterations, then teaching; with warmup_fit=false the
    estimator keeps its initial weights until then. The counter survives a checkpoint round trip."""
    torch.manual_seed(0)
    cfg = small_cfg("lbt-gan", **{"gan.lbt_gan_warmup": 2, "gan.lbt_gan_warmup_fit": fit})
    m = build_method(cfg, 2)
    start = {k: v.clone() for k, v in m.estimator.state_dict().items()}
    logs = [m.step(target) for _ in range(2)]
    assert all("loss_teach" not in log for log in logs)
    untouched = all(torch.equal(start[k], v) for k, v in m.estimator.state_dict().items())
    assert untouched is not fit
    resumed = build_method(cfg, 2)
    resumed.load_state_dict(m.state_dict())
    resumed.load_optimizer_states(m.optimizer_states())
    assert "loss_teach" in resumed.step(target)
    assert not all(torch.equal(start[k], v) for k, v in resumed.estimator.state_dict().items())


@pytest.mark.parametrize(("warmup", "every", "teaches"), [(0, 3, [1, 4]), (2, 2, [3, 5])])
def test_lbt_gan_teaches_on_every_nth_iteration_after_the_warmup(
    warmup: int, every: int, teaches: list[int]
) -> None:
    """gan.lbt_gan_teach_every=N: E is fitted and G taught on the first iteration after the
    warm-up and every N-th one after it; between them G takes GAN-only steps and E stays put."""
    torch.manual_seed(0)
    cfg = small_cfg("lbt-gan", **{"gan.lbt_gan_warmup": warmup, "gan.lbt_gan_warmup_fit": False,
                                  "gan.lbt_gan_teach_every": every})  # fmt: skip
    m = build_method(cfg, 2)
    taught, fitted = [], []
    for i in range(1, 7):
        before = [p.clone() for p in m.estimator.parameters()]
        log = m.step(target)
        taught += [i] if "loss_teach" in log else []
        after = list(m.estimator.parameters())
        fitted += [i] if any(not torch.equal(b, a) for b, a in zip(before, after, strict=True)) else []
        assert "loss_gan" in log
    assert taught == fitted == teaches


def test_zero_lbt_gan_teach_every_is_one_clear_error() -> None:
    with pytest.raises(LBTError, match="gan.lbt_gan_teach_every"):
        small_cfg("lbt-gan", **{"gan.lbt_gan_teach_every": 0})


def test_negative_lbt_gan_warmup_is_one_clear_error() -> None:
    with pytest.raises(LBTError, match="gan.lbt_gan_warmup"):
        small_cfg("lbt-gan", **{"gan.lbt_gan_warmup": -1})


def test_lbt_gan_weight_is_a_constant_lambda() -> None:
    """The paper's lambda: the logged generator loss is teach + gan.lbt_gan_weight * gan throughout."""
    torch.manual_seed(0)
    m = build_method(small_cfg("lbt-gan", **{"gan.lbt_gan_weight": 10.0}), 2)
    for _ in range(4):
        log = m.step(target)
        assert (log["loss_gen"] - log["loss_teach"]) / log["loss_gan"] == pytest.approx(10.0, abs=1e-4)


@pytest.mark.parametrize(
    ("name", "base_key"),
    [("gan", "gan.gen_lr"), ("veegan", "gan.gen_lr"), ("lbt-gan", "train.gen_lr"), ("lbt", "train.gen_lr")],
)
def test_every_generator_rate_decays_to_gen_lr_final(name: str, base_key: str) -> None:
    """The cosine ends at train.gen_lr_final whatever base rate the method's generator runs at:
    the GAN baselines' gan.gen_lr (1e-3 on grid), LBT's and LBT-GAN's train.gen_lr (3e-3)."""
    import math

    from lbt.train import Trainer

    iterations = 4
    cfg = config.build("grid", {"train.method": name, "train.iterations": iterations, "train.batch_size": 32,
                                "train.gen_batch_size": 32, "eval.every": 100, "eval.samples": 200,
                                "eval.train_samples": 200, "lbt.unroll_steps": 1, "lbt.est_steps": 1,
                                "model.mixture_components": 8})  # fmt: skip
    trainer = Trainer(cfg, progress=False)
    section, key = base_key.split(".")
    base, final = getattr(getattr(cfg, section), key), cfg.train.gen_lr_final
    assert base != cfg.train.gen_lr or name in ("lbt", "lbt-gan")
    seen: list[float] = []
    apply = trainer.method.gen_opt.apply
    trainer.method.gen_opt.apply = lambda grads, s=1.0: seen.append(s) or apply(grads, s)
    trainer.fit()
    end = final / base  # the factor at iteration `iterations`: base * end == train.gen_lr_final
    want = [base * (end + (1 - end) * 0.5 * (1 + math.cos(math.pi * it / iterations))) for it in range(4)]
    assert [base * s for s in seen] == pytest.approx(want, rel=1e-12)
