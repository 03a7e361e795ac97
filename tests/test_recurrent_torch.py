# tests/test_recurrent_torch.py: tfm's RNN, LSTM and GRU stacks against torch.nn.RNN / LSTM / GRU on identical weights.
"""Each case builds the torch module in float64 with tfm's float32 weights (the same values), runs both on the same
batch, packed (pack_padded_sequence, unsorted lengths) when the case has lengths, and compares the output, the final
states h_n (and c_n) and the gradients of sum(out * dout) + sum(h_n * dhn) with respect to every weight and to x:
backpropagation through time, through layers and both directions. Everything must agree within 1e-5 of each
tensor's largest value (float32 recurrences over 9 steps against float64).

A missing torch or tool is a failure, never a skip.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import import_references, test_tool  # noqa: E402

torch, np = import_references("torch", "numpy")
TOOL = test_tool("recurrent_values")

TOLERANCE = 1e-5

# (kind, input, hidden, layers, bidirectional, bias, batch, steps, lengths or None, initial states)
CASES = [
    ("rnn_tanh", 5, 7, 1, False, True, 3, 9, None, False),
    ("rnn_relu", 5, 7, 2, False, True, 3, 9, [9, 4, 6], False),
    ("lstm", 6, 8, 1, False, True, 4, 9, None, False),
    ("lstm", 6, 8, 2, True, True, 4, 9, [9, 3, 7, 1], True),
    ("lstm", 4, 5, 3, True, False, 2, 6, [6, 2], False),
    ("gru", 6, 8, 1, False, True, 4, 9, None, True),
    ("gru", 6, 8, 2, True, True, 4, 9, [5, 9, 2, 8], False),
]


def torch_module(kind, I, H, L, bidirectional, bias):
    common = dict(num_layers=L, bias=bias, batch_first=True, bidirectional=bidirectional, dtype=torch.float64)
    if kind == "lstm":
        return torch.nn.LSTM(I, H, **common)
    if kind == "gru":
        return torch.nn.GRU(I, H, **common)
    return torch.nn.RNN(I, H, nonlinearity="tanh" if kind == "rnn_tanh" else "relu", **common)


def run_case(index, case, work):
    kind, I, H, L, bidirectional, bias, B, T, lengths, initial = case
    D = 2 if bidirectional else 1
    rng = np.random.default_rng(50 + index)
    module = torch_module(kind, I, H, L, bidirectional, bias)
    params = list(module.named_parameters())  # torch's order is tfm's declaration order
    weights = [rng.uniform(-0.6, 0.6, p.shape).astype(np.float32) for _, p in params]
    with torch.no_grad():
        for (_, p), w in zip(params, weights):
            p.copy_(torch.from_numpy(w.astype(np.float64)))
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    dout = rng.standard_normal((B, T, D * H)).astype(np.float32)
    dhn = rng.standard_normal((L * D, B, H)).astype(np.float32)
    h0 = (0.5 * rng.standard_normal((L * D, B, H))).astype(np.float32)
    c0 = (0.5 * rng.standard_normal((L * D, B, H))).astype(np.float32)
    np.concatenate([w.ravel() for w in weights]).astype(np.float32).tofile(os.path.join(work, "weights.f32"))
    for name, array in (("x", x), ("dout", dout), ("dhn", dhn), ("h0", h0), ("c0", c0)):
        array.tofile(os.path.join(work, f"{name}.f32"))
    args = [TOOL, work, kind, str(I), str(H), str(L), str(int(bidirectional)), str(int(bias)), str(B), str(T), str(int(initial))]
    out = subprocess.run(args + [str(n) for n in (lengths or [])], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"recurrent_values failed ({out.returncode}): {out.stderr}")

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    state = None
    if initial:
        h0t = torch.tensor(h0, dtype=torch.float64)
        state = (h0t, torch.tensor(c0, dtype=torch.float64)) if kind == "lstm" else h0t
    if lengths:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        y, final = module(packed, state)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=T)
    else:
        y, final = module(xt, state)
    h_n, c_n = final if kind == "lstm" else (final, None)
    ((y * torch.tensor(dout, dtype=torch.float64)).sum() + (h_n * torch.tensor(dhn, dtype=torch.float64)).sum()).backward()

    def load(name, count):
        return np.fromfile(os.path.join(work, name), dtype=np.float32, count=count)

    checks = [("out", load("out.f32", y.numel()), y.detach().numpy().ravel()),
              ("h_n", load("hn.f32", h_n.numel()), h_n.detach().numpy().ravel()),
              ("grad x", load("grad_x.f32", x.size), xt.grad.numpy().ravel())]
    if c_n is not None:
        checks.append(("c_n", load("cn.f32", c_n.numel()), c_n.detach().numpy().ravel()))
    grads = load("grad_weights.f32", sum(w.size for w in weights))
    at = 0
    for (name, p), w in zip(params, weights):
        checks.append((f"grad {name}", grads[at:at + w.size], p.grad.numpy().ravel()))
        at += w.size
    worst_name, worst = None, 0.0
    for name, ours, theirs in checks:
        err = float(np.max(np.abs(ours - theirs))) / max(float(np.max(np.abs(theirs))), 1e-12)
        if err > worst:
            worst_name, worst = name, err
    ok = worst <= TOLERANCE
    shape = f"{kind} I{I} H{H} L{L}{' bidirectional' if bidirectional else ''}{'' if bias else ' no bias'} B{B} T{T}"
    extra = (f" lengths {lengths}" if lengths else "") + (" h0/c0" if initial else "")
    print(f"{'ok  ' if ok else 'FAIL'} {shape}{extra}: {len(checks)} tensors, worst {worst:.1e} ({worst_name})")
    return 0 if ok else 1


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for index, case in enumerate(CASES):
            failures += run_case(index, case, work)
    print(f"torch {torch.__version__}")
    if failures:
        raise SystemExit(f"{failures} recurrent case(s) differ from torch")


if __name__ == "__main__":
    main()
