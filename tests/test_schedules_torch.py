# tests/test_schedules_torch.py: tfm's learning-rate schedules, step by step, against torch.optim.lr_scheduler.
"""Each case is a config "train" object; tests/tools/schedule_rates prints tfm's rate for every step, and the same
schedule runs in torch (the rate read from the optimizer before each optimizer.step(), then scheduler.step()).
tfm's warm-up, step / warmup_steps of the rate, is torch's LinearLR(1 / W, 1, W - 1), joined to the decay by
SequentialLR at step W. tfm's cosine reaches min_lr at the last step, one step ahead of CosineAnnealingLR, so it is
held to torch's rates shifted by one. Reduce-on-plateau is fed the same validation metrics on both sides (a loss,
and a score with mode "max"), with patience, cooldown, the relative threshold and the min_lr floor all exercised.
Hyper-parameters go to torch as the float32 values tfm holds. Rates agree within 1e-6 relative.

A missing torch or tool is a failure, never a skip.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import import_references, test_tool  # noqa: E402

torch, np = import_references("torch", "numpy")
TOOL = test_tool("schedule_rates")
sched = torch.optim.lr_scheduler

TOLERANCE = 1e-6


def f32(x):
    return float(np.float32(x))


def with_warmup(opt, warmup, decay):
    if warmup == 0:
        return decay
    ramp = sched.LinearLR(opt, start_factor=f32(1.0 / warmup), end_factor=1.0, total_iters=warmup - 1)
    return sched.SequentialLR(opt, [ramp, decay], milestones=[warmup])


def torch_rates(train, make, metrics=(), mode="min"):
    """The rate of every step 1 .. max_steps; `make(opt)` builds the scheduler."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=f32(train["learning_rate"]))
    scheduler = make(opt)
    rates, pending = [], list(metrics)
    for step in range(1, train["max_steps"] + 1):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        if isinstance(scheduler, sched.ReduceLROnPlateau):
            if step % train["eval_every"] == 0 and pending:
                scheduler.step(pending.pop(0))
        else:
            scheduler.step()
    return rates


def tfm_rates(train, metrics=(), higher=False):
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "train.json")
        with open(path, "w") as f:
            json.dump(train, f)
        args = [TOOL, path, "64"] + (["--higher"] if higher else []) + [repr(m) for m in metrics]
        out = subprocess.run(args, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"schedule_rates failed ({out.returncode}): {out.stderr}")
        return [float(x) for x in out.stdout.split()]


def plateau_metrics(count, seed):
    """Falls, stalls (within and beyond the threshold), falls again, then noise: every branch of the rule."""
    rng = np.random.default_rng(seed)
    values = [2.0 - 0.1 * i for i in range(6)] + [1.5 - 1e-5 * i for i in range(8)] + [1.2, 1.1] + [1.1] * 6
    values += list(1.0 + 0.05 * rng.standard_normal(count - len(values)))
    return [f32(v) for v in values[:count]]


def main():
    lr, min_lr, T = 0.01, 0.0005, 300
    cases = []
    for W in (0, 20):
        base = {"learning_rate": lr, "min_lr": min_lr, "max_steps": T, "warmup_steps": W}
        cases += [
            (f"step W={W}", dict(base, schedule="step", step_size=40, gamma=0.5),
             lambda o, W=W: with_warmup(o, W, sched.StepLR(o, step_size=40, gamma=0.5))),
            (f"exponential W={W}", dict(base, schedule="exponential", gamma=0.99),
             lambda o, W=W: with_warmup(o, W, sched.ExponentialLR(o, gamma=f32(0.99)))),
            (f"linear W={W}", dict(base, schedule="linear"),
             lambda o, W=W: with_warmup(o, W, sched.LinearLR(o, start_factor=1.0, end_factor=f32(min_lr) / f32(lr), total_iters=T - W))),
            (f"constant W={W}", dict(base, schedule="constant"),
             lambda o, W=W: with_warmup(o, W, sched.ConstantLR(o, factor=1.0, total_iters=0))),
        ]
    failures = 0
    for name, train, make in cases:
        failures += compare(name, tfm_rates(train), torch_rates(train, make))

    # cosine: torch's rates one step later (CosineAnnealingLR reaches eta_min at T_max, tfm at the last step)
    for W in (0, 20):
        train = {"learning_rate": lr, "min_lr": min_lr, "max_steps": T, "warmup_steps": W, "schedule": "cosine"}
        ours = tfm_rates(train)
        span = T - W
        theirs = torch_rates(dict(train, max_steps=span + 1), lambda o: sched.CosineAnnealingLR(o, T_max=span, eta_min=f32(min_lr)))
        failures += compare(f"cosine W={W} (after the warm-up)", ours[W:], theirs[1:])
        failures += compare(f"cosine W={W} (warm-up)", ours[:W], [f32(lr) * s / W for s in range(1, W + 1)])

    plateau = [
        ("plateau loss", {"patience": 2, "factor": 0.5, "cooldown": 0, "threshold": 1e-4}, "min"),
        ("plateau loss cooldown floor", {"patience": 1, "factor": 0.3, "cooldown": 2, "threshold": 1e-3}, "min"),
        ("plateau score", {"patience": 3, "factor": 0.5, "cooldown": 1, "threshold": 1e-4}, "max"),
    ]
    for name, o, mode in plateau:
        train = {"learning_rate": lr, "min_lr": min_lr, "max_steps": T, "warmup_steps": 0, "schedule": "plateau", "eval_every": 5,
                 "plateau_patience": o["patience"], "plateau_factor": o["factor"], "plateau_cooldown": o["cooldown"],
                 "plateau_threshold": o["threshold"]}
        metrics = plateau_metrics(T // 5, seed=len(name))
        if mode == "max":
            metrics = [f32(3.0 - m) for m in metrics]
        theirs = torch_rates(train, lambda opt: sched.ReduceLROnPlateau(
            opt, mode=mode, factor=f32(o["factor"]), patience=o["patience"], threshold=f32(o["threshold"]), threshold_mode="rel",
            cooldown=o["cooldown"], min_lr=f32(min_lr)), metrics)
        ours = tfm_rates(train, metrics, higher=mode == "max")
        reductions = len(set(theirs)) - 1
        if reductions < 3:
            print(f"FAIL {name}: torch reduced the rate only {reductions} times; the metrics do not exercise the rule")
            failures += 1
        failures += compare(f"{name} ({reductions} reductions, floor {'reached' if min(theirs) <= f32(min_lr) else 'not reached'})",
                            ours, theirs)
    print(f"torch {torch.__version__}")
    if failures:
        raise SystemExit(f"{failures} schedule case(s) differ from torch")


def compare(name, ours, theirs):
    if len(ours) != len(theirs):
        print(f"FAIL {name}: {len(ours)} rates from tfm, {len(theirs)} from torch")
        return 1
    worst, at = 0.0, 0
    for i, (a, b) in enumerate(zip(ours, theirs)):
        err = abs(a - b) / max(abs(b), 1e-12)
        if err > worst:
            worst, at = err, i
    ok = worst <= TOLERANCE
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(ours)} steps, worst relative difference {worst:.2e} at step {at + 1}"
          + ("" if ok else f" (tfm {ours[at]:.9g}, torch {theirs[at]:.9g})"))
    return 0 if ok else 1


if __name__ == "__main__":
    main()
