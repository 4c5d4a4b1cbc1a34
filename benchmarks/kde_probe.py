"""Probe: the closed-form kernel-density teacher driving the paper's generator on a 2-D mixture.

A stand-alone loop (no run directory) for quick recipe probes; prints one JSON line of paper
metrics every ``--every`` iterations for the generator and an EMA of it. docs/results.md lists the
probes it ran, e.g. ``python benchmarks/kde_probe.py --data ring --h0 0.5 --h_steps 1000``.
"""

import argparse
import copy
import json
import math
import time

import torch

from lbt.datasets.toy import grid, ring
from lbt.metrics import mode_metrics
from lbt.models.generators import MLPGenerator

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--lr_final", type=float, default=1e-4)
p.add_argument("--steps", type=int, default=8000)
p.add_argument("--h", type=float, default=0.05)
p.add_argument("--h0", type=float, default=0.0)
p.add_argument("--h_steps", type=int, default=0)
p.add_argument("--ema", type=float, default=0.998)
p.add_argument("--nb", type=int, default=2048)
p.add_argument("--nd", type=int, default=1024)
p.add_argument("--z", type=int, default=256)
p.add_argument("--hidden", type=int, default=128)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--data", default="grid")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--warm", type=int, default=0)
p.add_argument("--every", type=int, default=500)
p.add_argument("--std", type=float, default=0.01)
p.add_argument("--kernel", choices=("gauss", "student"), default="gauss")
p.add_argument("--nu", type=float, default=1.0, help="Student-t degrees of freedom (--kernel student)")
a = p.parse_args()
torch.set_num_threads(1)
torch.manual_seed(a.seed)
data = (
    grid(100, 0.2, a.std)
    if a.data == "grid"
    else (grid(25, 2.0, 0.05) if a.data == "grid25" else ring(8, 1.0, a.std))
)
G = MLPGenerator(a.z, 2, a.hidden, a.layers)
E = copy.deepcopy(G)
opt = torch.optim.Adam(G.parameters(), lr=a.lr, betas=(0.5, 0.999))
t0 = time.time()
for it in range(1, a.steps + 1):
    frac = min(it / a.steps, 1.0)
    lr = a.lr_final + (a.lr - a.lr_final) * 0.5 * (1 + math.cos(math.pi * frac))
    for g in opt.param_groups:
        g["lr"] = lr
    h = a.h if not a.h0 or it >= a.h_steps else a.h0 * (a.h / a.h0) ** (it / a.h_steps)
    x = data.sample(a.nd)
    y = G.sample(a.nb)
    d2 = torch.cdist(x, y) ** 2
    # student: heavy tails, so samples far from every data point still feel a pull
    gauss = a.kernel == "gauss"
    logk = -d2 / (2 * h * h) if gauss else -0.5 * (a.nu + 2) * torch.log1p(d2 / (a.nu * h * h))
    loss = -(torch.logsumexp(logk, 1)).mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(G.parameters(), 5.0)
    opt.step()
    with torch.no_grad():
        for pe, pg in zip(E.parameters(), G.parameters(), strict=True):
            pe.lerp_(pg, 1 - a.ema)
    if it % a.every == 0:
        with torch.no_grad():
            m = mode_metrics(G.sample(20000), data.means, data.std)
            me = mode_metrics(E.sample(20000), data.means, data.std)
        print(
            json.dumps(
                dict(
                    it=it,
                    t=round(time.time() - t0),
                    lr=round(lr, 6),
                    h=round(h, 4),
                    modes=m.modes_covered,
                    hq=round(m.high_quality_fraction, 3),
                    kl=round(m.inner_mode_kl, 2),
                    ema_modes=me.modes_covered,
                    ema_hq=round(me.high_quality_fraction, 3),
                    ema_kl=round(me.inner_mode_kl, 2),
                )
            ),
            flush=True,
        )
