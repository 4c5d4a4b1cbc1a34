"""Reference for the MNIST results: the estimator fitted to the data itself, no generator.

    python benchmarks/mnist_vae_reference.py [--preset mnist] [--steps 9000] [--est-ema D]
        [--lr-final F --lr-hold H] [--data-dir DIR]

LBT's taught VAE can at best match a VAE trained on the real images, so this prints the held-out
ELBO and importance-weighted bound that the preset's VAE reaches with plain Adam (lr 1e-3, beta1 0.5)
on real batches of the preset's size. The default 9000 steps equal the estimator updates of a full
`mnist` run (4500 iterations x 2). ``--est-ema D`` scores a weight average of the VAE instead,
updated once per ``lbt.est_steps`` steps with decay D: what ``train.est_ema=D`` does to the taught
one, whose average is updated once per iteration. ``--lr-final F --lr-hold H`` hold the rate for
the first H of the steps, then decay it on a cosine to F: what ``lbt.fit_lr_final=F
lbt.fit_lr_hold=H`` did to the taught one's fit before those keys were removed (notes/journal.md,
2026-12-04 and 2026-12-06). Record the numbers in docs/images.md with the machine and date.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import torch

from lbt import Trainer
from lbt.averaging import WeightAverage
from lbt.optim import cosine_hold


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="mnist")
    p.add_argument("--steps", type=int, default=9000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--est-ema", type=float, default=0.0, help="decay of the scored weight average")
    p.add_argument("--lr-final", type=float, default=-1.0, help="< 0: constant; else the cosine's end")
    p.add_argument("--lr-hold", type=float, default=0.0, help="fraction of the steps at --lr")
    args = p.parse_args()
    if args.data_dir:
        os.environ["LBT_DATA_DIR"] = args.data_dir
    trainer = Trainer(preset=args.preset, overrides={"seed": args.seed}, progress=False)
    vae, batch = trainer.method.estimator, trainer.cfg.train.batch_size
    test = trainer.data.test_set()
    opt = torch.optim.Adam(vae.parameters(), lr=args.lr, betas=(0.5, 0.999))
    average = WeightAverage(vae, args.est_ema) if args.est_ema > 0 else None
    per_update = trainer.cfg.lbt.est_steps  # teacher steps per iteration: one average update
    scored = average.swapped_in if average is not None else contextlib.nullcontext
    start = time.perf_counter()
    extra = " elbo_test, average |" if average is not None else ""
    print(f"| step | seconds | elbo_test |{extra}\n|---:|---:|---:|{'---:|' if extra else ''}")
    end = args.lr_final / args.lr  # < 0: the rate stays constant
    for step in range(1, args.steps + 1):
        opt.param_groups[0]["lr"] = args.lr * cosine_hold(step, args.steps, args.lr_hold, end)
        loss = -vae(trainer.data_fn(batch)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if average is not None and step % per_update == 0:
            average.update()
        if step % max(args.steps // 3, 1) == 0 or step == args.steps:
            with torch.no_grad():
                row = f"| {step} | {time.perf_counter() - start:.0f} | {float(vae(test).mean()):.1f} |"
                if average is not None:
                    with average.swapped_in():
                        row += f" {float(vae(test).mean()):.1f} |"
                print(row, flush=True)
    with torch.no_grad(), scored():
        iw = float(vae.iwae(test[:1000], 100).mean())
    print(f"iwae_test (1000 test images, k=100{', the average' if average else ''}): {iw:.1f}")


if __name__ == "__main__":
    main()
