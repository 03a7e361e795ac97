# tests/test_activations_torch.py: every activation of tfm (reference and fast kernels, forward and backward) against torch.
"""Each case runs tests/tools/activation_values on float32 inputs and compares with torch in float64 on the same
inputs: values y and the gradient of sum(dy * y) with respect to x (and PReLU's slopes). The inputs span both
tails (x ~ 4 N(0, 1)), hold exact zeros and, for ThresholdedReLU, exact thresholds, so the conventions at the kinks
(torch's: ReLU' (0) = 0, LeakyReLU' (0) = slope, ELU' (0) = alpha, threshold' (theta) = 0) are checked too. A value
passes when |tfm - torch| <= ATOL max|torch| + RTOL |torch| (ATOL relative to the tensor's largest entry, as float32
sums such as softmax's are exact only to that scale); the worst ratio to that bound is printed for each.

A missing torch or tool is a failure, never a skip.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import import_references, test_tool  # noqa: E402

torch, np = import_references("torch", "numpy")
TOOL = test_tool("activation_values")
F = torch.nn.functional

# float32 kernels against float64 torch: the reference kernels round once or twice, the fast ones use tfm's
# vectorised exp (~2 ulp) and erf (1.5e-7 absolute).
TOLERANCE = {"reference": (1e-7, 1e-6), "fast": (3e-7, 2e-6)}  # (ATOL relative to max|torch|, RTOL)


def f32(x):
    return float(np.float32(x))


# (tfm name, parameter, torch function of (x, parameter)); prelu's parameter is its number of slopes
CASES = [
    ("gelu", 0, lambda x, p: F.gelu(x, approximate="tanh")),
    ("gelu_erf", 0, lambda x, p: F.gelu(x)),
    ("relu", 0, lambda x, p: F.relu(x)),
    ("tanh", 0, lambda x, p: torch.tanh(x)),
    ("sigmoid", 0, lambda x, p: torch.sigmoid(x)),
    ("silu", 0, lambda x, p: F.silu(x)),
    ("leaky_relu", 0.01, lambda x, p: F.leaky_relu(x, p)),
    ("leaky_relu", 0.2, lambda x, p: F.leaky_relu(x, p)),
    ("elu", 1.0, lambda x, p: F.elu(x, p)),
    ("elu", 0.5, lambda x, p: F.elu(x, p)),
    ("selu", 0, lambda x, p: F.selu(x)),
    ("thresholded_relu", 1.0, lambda x, p: F.threshold(x, p, 0.0)),
    ("thresholded_relu", 0.3, lambda x, p: F.threshold(x, p, 0.0)),
    ("softmax", 0, lambda x, p: F.softmax(x, dim=-1)),
    ("log_softmax", 0, lambda x, p: F.log_softmax(x, dim=-1)),
    ("prelu", 1, None),
    ("prelu", 64, None),
]
ROWS, COLUMNS = 300, 64


def inputs(seed, parameter):
    rng = np.random.default_rng(seed)
    x = (4.0 * rng.standard_normal((ROWS, COLUMNS))).astype(np.float32)
    x.flat[::97] = 0.0
    x.flat[5::89] = np.float32(parameter)
    x[0, :8] = np.array([-90, -30, -10, -1e-4, 1e-4, 10, 30, 90], dtype=np.float32)
    dy = rng.standard_normal((ROWS, COLUMNS)).astype(np.float32)
    return x, dy


def ratio_to_bound(values, truth, path):
    atol, rtol = TOLERANCE[path]
    bound = atol * np.max(np.abs(truth)) + rtol * np.abs(truth)
    return np.abs(values.astype(np.float64) - truth) / bound


def compare(label, ours, theirs, torch32, path):
    """Pass within the bound, or within twice torch's own float32 error where that is larger (float32 sums such
    as softmax's backward are only so exact in any implementation)."""
    ratio = ratio_to_bound(ours, theirs, path)
    torch_worst = float(np.max(ratio_to_bound(torch32, theirs, path)))
    worst = int(np.argmax(ratio))
    ok = bool(ratio.flat[worst] <= max(1.0, 2.0 * torch_worst))
    detail = "" if ok else f" (tfm {ours.flat[worst]:.9g}, torch {theirs.flat[worst]:.9g})"
    print(f"  {'ok  ' if ok else 'FAIL'} {label} {path}: worst {ratio.flat[worst]:.2f} of the bound, torch float32 "
          f"{torch_worst:.2f}{detail}")
    return 0 if ok else 1


def torch_values(name, parameter, function, x, dy, w, dtype):
    """y, dx (and dw) from torch in `dtype`."""
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    wt = torch.tensor(w, dtype=dtype, requires_grad=True) if w is not None else None
    y = F.prelu(xt, wt) if name == "prelu" else function(xt, f32(parameter))
    (y * torch.tensor(dy, dtype=dtype)).sum().backward()
    got = {"y": y.detach().double().numpy().ravel(), "dx": xt.grad.double().numpy().ravel()}
    if wt is not None:
        got["dw"] = wt.grad.double().numpy().ravel()
    return got


def run_case(index, name, parameter, function, work):
    x, dy = inputs(100 + index, parameter)
    x.tofile(os.path.join(work, "x.f32"))
    dy.tofile(os.path.join(work, "dy.f32"))
    w = None
    if name == "prelu":
        w = np.random.default_rng(7 + index).uniform(-0.5, 0.5, parameter).astype(np.float32)
        w.tofile(os.path.join(work, "w.f32"))
    truth = torch_values(name, parameter, function, x, dy, w, torch.float64)
    torch32 = torch_values(name, parameter, function, x, dy, w, torch.float32)
    out = subprocess.run([TOOL, name, repr(f32(parameter)), str(ROWS), str(COLUMNS), work], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"activation_values {name} failed ({out.returncode}): {out.stderr}")
    print(f"{name} (parameter {parameter})")
    failures = 0
    for path in ("reference", "fast"):
        for key in truth:
            count = parameter if key == "dw" else ROWS * COLUMNS
            ours = np.fromfile(os.path.join(work, f"{key}_{path}.f32"), dtype=np.float32, count=count)
            failures += compare(key, ours, truth[key], torch32[key], path)
    return failures


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for index, (name, parameter, function) in enumerate(CASES):
            failures += run_case(index, name, parameter, function, work)
    print(f"torch {torch.__version__}")
    if failures:
        raise SystemExit(f"{failures} comparison(s) outside the tolerance")


if __name__ == "__main__":
    main()
