# tests/test_losses_torch.py: every loss of tfm (reference kernel, fast kernel, graph function), value and gradient,
# against torch in float64, or against Keras' formula written in torch where torch has no such loss.
"""The Keras formulas (keras/src/losses/losses.py, Keras 3): mean_absolute_percentage_error = 100 mean(|t - p| /
max(|t|, eps)); mean_squared_logarithmic_error = mean((log(max(p, eps) + 1) - log(max(t, eps) + 1))^2);
log_cosh = mean(log cosh(p - t)); hinge = mean(max(1 - t p, 0)) and squared_hinge its square, t in {-1, 1};
categorical_hinge = max(max((1 - t) p) - sum(t p) + 1, 0); CosineSimilarity = -sum(l2_normalize(t) l2_normalize(p)),
with eps = 1e-7. torch's autograd differentiates them here, so gradients are checked as well as values.

Each case is [ROWS, COLUMNS] float32 data (enough for the fast kernels to split the work into blocks) drawn for the loss (probabilities where it takes them, -1/1 labels for the
hinges, rows with and without a hinge margin); tfm's value must be within 1e-6 relative of torch's and every
gradient entry within 1e-7 of the largest plus 1e-6 relative. Bad inputs must be refused with a message naming the
entry. A missing torch or tool is a failure, never a skip.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import import_references, test_tool  # noqa: E402

torch, np = import_references("torch", "numpy")
TOOL = test_tool("loss_values")
F = torch.nn.functional

ROWS, COLUMNS, DELTA = 1000, 37, float(np.float32(0.7))  # 37,000 entries: the fast kernels run 3 blocks
VALUE_RTOL, GRAD_ATOL, GRAD_RTOL = 1e-6, 1e-7, 1e-6
KERAS_EPS = 1e-7


def f32(a):
    return np.asarray(a, dtype=np.float32)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def data(name, rng):
    """(pred, target) float32 arrays (target int32 for nll) suited to the loss."""
    shape = (ROWS, COLUMNS)
    normal = lambda scale=1.0: f32(scale * rng.standard_normal(shape))  # noqa: E731
    if name in ("binary_cross_entropy",):
        return f32(rng.uniform(0.02, 0.98, shape)), f32(rng.uniform(0, 1, shape))
    if name == "binary_cross_entropy_with_logits":
        return normal(3.0), f32(rng.uniform(0, 1, shape))
    if name == "poisson":
        return f32(rng.uniform(0.1, 5.0, shape)), f32(rng.poisson(2.0, shape))
    if name in ("hinge", "squared_hinge"):
        return normal(1.5), f32(rng.choice([-1.0, 1.0], shape))
    if name == "mape":
        return normal(2.0), f32(rng.choice([-1, 1], shape) * rng.uniform(0.5, 3.0, shape))
    if name == "msle":
        return f32(rng.uniform(-0.5, 6.0, shape)), f32(rng.uniform(0.0, 6.0, shape))
    if name == "kl_divergence":
        t = softmax(rng.standard_normal(shape))
        t[:, ::7] = 0.0  # zero probabilities contribute nothing
        return f32(np.log(softmax(rng.standard_normal(shape)))), f32(t / t.sum(axis=-1, keepdims=True))
    if name == "categorical_cross_entropy":
        return normal(3.0), f32(softmax(2.0 * rng.standard_normal(shape)))
    if name == "categorical_hinge":
        t = np.zeros(shape, dtype=np.float32)
        t[np.arange(ROWS), rng.integers(0, COLUMNS, ROWS)] = 1.0
        p = normal(0.4)
        p[::3] += 3.0 * t[::3]  # a third of the rows clear the margin: loss 0 there
        return p, t
    if name == "nll":
        targets = rng.integers(0, COLUMNS, ROWS).astype(np.int32)
        targets[::5] = -100
        return f32(np.log(softmax(2.0 * rng.standard_normal(shape)))), targets
    return normal(2.0), normal(2.0)


def torch_loss(name, p, t):
    d = p - t if name != "nll" else None
    table = {
        "mse": lambda: F.mse_loss(p, t),
        "mae": lambda: F.l1_loss(p, t),
        "mape": lambda: (100.0 * d.abs() / t.abs().clamp_min(KERAS_EPS)).mean(),
        "msle": lambda: ((torch.log1p(p.clamp_min(KERAS_EPS)) - torch.log1p(t.clamp_min(KERAS_EPS))) ** 2).mean(),
        "huber": lambda: F.huber_loss(p, t, delta=DELTA),
        "smooth_l1": lambda: F.smooth_l1_loss(p, t, beta=DELTA),
        "log_cosh": lambda: torch.log(torch.cosh(d)).mean(),
        "binary_cross_entropy": lambda: F.binary_cross_entropy(p, t),
        "binary_cross_entropy_with_logits": lambda: F.binary_cross_entropy_with_logits(p, t),
        "poisson": lambda: F.poisson_nll_loss(p, t, log_input=False, full=False, eps=1e-8),
        "hinge": lambda: torch.clamp(1.0 - t * p, min=0.0).mean(),
        "squared_hinge": lambda: (torch.clamp(1.0 - t * p, min=0.0) ** 2).mean(),
        "kl_divergence": lambda: F.kl_div(p, t, reduction="batchmean"),
        "categorical_cross_entropy": lambda: F.cross_entropy(p, t),
        "cosine_similarity": lambda: -F.cosine_similarity(p, t, dim=-1).mean(),
        "categorical_hinge": lambda: torch.clamp(((1.0 - t) * p).amax(dim=-1) - (t * p).sum(dim=-1) + 1.0, min=0.0).mean(),
        "nll": lambda: F.nll_loss(p, t.long(), ignore_index=-100),
    }
    return table[name]()


NAMES = ["mse", "mae", "mape", "msle", "huber", "smooth_l1", "log_cosh", "binary_cross_entropy", "binary_cross_entropy_with_logits",
         "poisson", "hinge", "squared_hinge", "kl_divergence", "categorical_cross_entropy", "cosine_similarity", "categorical_hinge",
         "nll"]


def run_tool(name, pred, target, work):
    pred.tofile(os.path.join(work, "pred.f32"))
    target.tofile(os.path.join(work, "target.i32" if name == "nll" else "target.f32"))
    return subprocess.run([TOOL, name, repr(DELTA), str(ROWS), str(COLUMNS), work], capture_output=True, text=True)


def run_case(index, name, work):
    pred, target = data(name, np.random.default_rng(1000 + index))
    out = run_tool(name, pred, target, work)
    if out.returncode != 0:
        print(f"FAIL {name}: loss_values exited {out.returncode}: {out.stderr.strip()}")
        return 1
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(target, dtype=torch.float64)
    loss = torch_loss(name, p, t)
    loss.backward()
    want, want_grad = loss.item(), p.grad.numpy().ravel()
    values = np.fromfile(os.path.join(work, "value.f64"), dtype=np.float64)
    failures, report = 0, []
    for way, value in zip(("reference", "fast", "graph"), values):
        grad = np.fromfile(os.path.join(work, f"grad_{way}.f32"), dtype=np.float32)
        value_err = abs(value - want) / max(abs(want), 1e-30)
        bound = GRAD_ATOL * np.max(np.abs(want_grad)) + GRAD_RTOL * np.abs(want_grad)
        grad_ratio = float(np.max(np.abs(grad - want_grad) / bound))
        ok = value_err <= VALUE_RTOL and grad_ratio <= 1.0
        failures += not ok
        report.append(f"{way} {'ok' if ok else 'FAIL'} (value {value_err:.1e}, grad {grad_ratio:.2f} of the bound)")
    print(f"{'ok  ' if not failures else 'FAIL'} {name}: loss {want:.6g}; " + "; ".join(report))
    return failures


def run_refusals(work):
    """Inputs a loss must refuse, with the entry named."""
    failures = 0
    rng = np.random.default_rng(5)
    cases = [
        ("binary_cross_entropy", lambda p, t: (p.__setitem__((0, 3), 1.5), p, t)[1:], "binary_cross_entropy: prediction[3] = 1.5"),
        ("hinge", lambda p, t: (t.__setitem__((1, 0), 0.5), p, t)[1:], f"hinge: target[{COLUMNS}] = 0.5; expected -1 or 1"),
        ("nll", lambda p, t: (t.__setitem__(2, COLUMNS), p, t)[1:], f"nll: target[2] = {COLUMNS}; expected a class in [0, {COLUMNS})"),
    ]
    for name, spoil, message in cases:
        pred, target = data(name, rng)
        pred, target = spoil(pred.copy(), target.copy())
        out = run_tool(name, pred, target, work)
        ok = out.returncode == 1 and message in out.stderr
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name} refuses bad input: {out.stderr.strip()!r}")
    return failures


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for index, name in enumerate(NAMES):
            failures += run_case(index, name, work)
        failures += run_refusals(work)
    print(f"torch {torch.__version__}")
    if failures:
        raise SystemExit(f"{failures} loss check(s) failed")


if __name__ == "__main__":
    main()
