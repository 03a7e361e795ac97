# tests/test_optimizers_torch.py: every optimizer of tfm, 100 steps on the same model, against torch.optim (Ftrl: Keras' formula).
"""The model is a chain-coupled quadratic over 40,000 weights (more than the threaded update's threshold, so the
threaded path runs; tests/tools/optimizer_steps also holds it bit for bit to the plain loop):
    loss(p) = sum_i lambda_i (p_i - c_i)^2 / 2 + 0.05 sum_i (p_{i+1} - p_i)^2 / 2,  lambda_i in [0.5, 2]
whose gradient both sides form in float64 from the float32 weights and round to float32. Each case runs 100 steps
in tfm (from a config "train" object, so the names and defaults of the config are what is tested) and in
torch.optim with the same hyper-parameters; the final weights must agree within 1e-6 relative to their scale.

Ftrl has no torch.optim counterpart: its reference is Keras 3's Ftrl.update_step (keras/src/optimizers/ftrl.py,
after McMahan et al., "Ad Click Prediction: a View from the Trenches", KDD 2013, algorithm 1), written out below in
NumPy float32, with Keras' decoupled weight decay (p -= p * wd * lr before the step).

A missing torch or tool is a failure, never a skip.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import import_references  # noqa: E402

torch, np = import_references("torch", "numpy")

N, STEPS, KAPPA, TOLERANCE = 40000, 100, 0.05, 1e-6
BUILD = os.environ.get("TFM_BUILD")
TOOL = os.path.join(BUILD or "", "tests", "tools", "optimizer_steps")

# (name, tfm "train" object, torch.optim constructor or None for the NumPy Ftrl)
CASES = [
    ("sgd", {"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0}, lambda p: torch.optim.SGD(p, lr=0.05)),
    ("sgd momentum dampening decay", {"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd nesterov", {"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    ("adam", {"optimizer": "adam", "learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
     lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)),
    ("adamw", {"optimizer": "adamw", "learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.1},
     lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)),
    ("adagrad", {"optimizer": "adagrad", "learning_rate": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator": 0.1},
     lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
    ("adagrad defaults", {"optimizer": "adagrad", "learning_rate": 0.1}, lambda p: torch.optim.Adagrad(p, lr=0.1)),
    ("rmsprop", {"optimizer": "rmsprop", "learning_rate": 0.001}, lambda p: torch.optim.RMSprop(p, lr=0.001)),
    # Centered, alpha 0.99 (torch's default): on gradients as steady as these, a smaller alpha makes the variance
    # estimate s - a^2 a difference of nearly equal numbers within 100 steps, ill-conditioned in any implementation.
    ("rmsprop centered momentum decay", {"optimizer": "rmsprop", "learning_rate": 0.0002, "alpha": 0.99, "centered": True, "momentum": 0.8,
                                         "weight_decay": 0.01},
     lambda p: torch.optim.RMSprop(p, lr=0.0002, alpha=0.99, centered=True, momentum=0.8, weight_decay=0.01)),
    ("rmsprop momentum", {"optimizer": "rmsprop", "learning_rate": 0.0005, "momentum": 0.5},
     lambda p: torch.optim.RMSprop(p, lr=0.0005, momentum=0.5)),
    ("adadelta", {"optimizer": "adadelta", "learning_rate": 0.5, "rho": 0.9, "weight_decay": 0.01},
     lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.9, weight_decay=0.01)),
    ("adamax", {"optimizer": "adamax", "learning_rate": 0.02, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.01},
     lambda p: torch.optim.Adamax(p, lr=0.02, betas=(0.9, 0.999), weight_decay=0.01)),
    ("nadam", {"optimizer": "nadam", "learning_rate": 0.003, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.01},
     lambda p: torch.optim.NAdam(p, lr=0.003, betas=(0.9, 0.999), weight_decay=0.01, momentum_decay=0.004)),
    ("ftrl", {"optimizer": "ftrl", "learning_rate": 0.1, "l1": 0.01, "l2": 0.01, "l2_shrinkage": 0.01, "ftrl_beta": 0.1}, None),
    ("ftrl decay power", {"optimizer": "ftrl", "learning_rate": 0.1, "lr_power": -0.7, "initial_accumulator": 0.5, "weight_decay": 0.01}, None),
]


def gradient(p, lam, center):
    """float32 [n] -> float32 [n]: the model's gradient formed in float64."""
    x = p.astype(np.float64)
    d = lam * (x - center)
    d[1:] += KAPPA * (x[1:] - x[:-1])
    d[:-1] += KAPPA * (x[:-1] - x[1:])
    return d.astype(np.float32)


def run_torch(make, start, lam, center):
    p = torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt = make([p])
    for _ in range(STEPS):
        p.grad = torch.from_numpy(gradient(p.detach().numpy(), lam, center))
        opt.step()
    return p.detach().numpy()


def run_ftrl(settings, start, lam, center):
    """Keras 3 Ftrl.update_step in float32 (see the module docstring)."""
    f = np.float32
    lr, power = f(settings["learning_rate"]), f(settings.get("lr_power", -0.5))
    l1, l2, shrink = f(settings.get("l1", 0)), f(settings.get("l2", 0)), f(settings.get("l2_shrinkage", 0))
    l2_reg = f(l2 + f(settings.get("ftrl_beta", 0)) / (f(2) * lr))
    wd = f(settings.get("weight_decay", 0))
    p = start.copy()
    accum = np.full_like(p, f(settings.get("initial_accumulator", 0.1)))
    linear = np.zeros_like(p)
    for _ in range(STEPS):
        g = gradient(p, lam, center)
        if wd:
            p = p - p * (wd * lr)
        grad_to_use = g + f(2) * shrink * p
        new_accum = accum + g * g
        linear += grad_to_use - (np.power(new_accum, -power) - np.power(accum, -power)) / lr * p
        quadratic = np.power(new_accum, -power) / lr + f(2) * l2_reg
        p = ((np.clip(linear, -l1, l1) - linear) / quadratic).astype(np.float32)
        accum = new_accum
    return p


def main():
    if not BUILD or not os.path.exists(TOOL):
        print(f"FAILED: {TOOL} is missing (TFM_BUILD={BUILD})")
        return 1
    rng = np.random.default_rng(5)
    lam = rng.uniform(0.5, 2.0, N)
    center = rng.normal(0, 1, N)
    # Every weight starts 1 to 2 above its centre and the coupling is weak, so no gradient comes near 0 within the
    # steps (the rates are chosen so): where a gradient passes through 0, the optimizers that divide by a running root (RMSprop, NAdam) turn the last-place
    # differences of torch's sqrt (MKL's vector math, within 1 ulp but not correctly rounded) into large ones.
    start = (center + rng.uniform(1.0, 2.0, N)).astype(np.float32)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="optimizers_") as work:
        lam.tofile(os.path.join(work, "lambda.f64"))
        center.tofile(os.path.join(work, "center.f64"))
        start.tofile(os.path.join(work, "start.f32"))
        for name, settings, make in CASES:
            config = os.path.join(work, "train.json")
            with open(config, "w") as f:
                json.dump(settings, f)
            run = subprocess.run([TOOL, config, work, str(STEPS)], capture_output=True, text=True)
            if run.returncode != 0:
                print(f"  FAIL  {name}: {run.stderr.strip()}")
                failures += 1
                continue
            got = np.fromfile(os.path.join(work, "result.f32"), dtype=np.float32)
            want = run_ftrl(settings, start, lam, center) if make is None else run_torch(make, start, lam, center)
            scale = max(float(np.abs(want).max()), 1e-30)
            error = float(np.abs(got.astype(np.float64) - want).max()) / scale
            moved = float(np.abs(want - start).max())
            ok = error <= TOLERANCE and moved > 1e-3 and np.isfinite(got).all()
            failures += not ok
            reference = "Keras' formula" if make is None else "torch.optim"
            print(f"  {'ok  ' if ok else 'FAIL'}  {name}: {STEPS} steps, max difference {error:.2e} of the weights' scale "
                  f"against {reference} (weights moved up to {moved:.3f})")
    print(f"{len(CASES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
