# tests/test_attention_torch.py: the fast attention kernels (forward and backward, run through test_attention --torch-io) against PyTorch autograd in float64.
import math
import os
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import import_references  # noqa: E402

torch = import_references("torch")

torch.manual_seed(0)
BUILD = os.environ.get("TFM_BUILD")
if not BUILD:
    print("TFM_BUILD is not set")
    sys.exit(1)
DRIVER = os.path.join(BUILD, "tests", "test_attention")
if not os.path.exists(DRIVER):
    print(f"{DRIVER} is missing")
    sys.exit(1)

SEPARATE, FUSED, CROSS = 0, 1, 2
failures = 0


def torch_attention(q, k, v, H, causal, lengths):
    """q [B,Tq,C], k/v [B,Tk,C] -> out [B,Tq,C], probs [B,H,Tq,Tk]; explicit formula, masked rows -> 0."""
    B, Tq, C = q.shape
    Tk = k.shape[1]
    hd = C // H
    qh = q.view(B, Tq, H, hd).transpose(1, 2)
    kh = k.view(B, Tk, H, hd).transpose(1, 2)
    vh = v.view(B, Tk, H, hd).transpose(1, 2)
    scores = (qh @ kh.transpose(-2, -1)) / math.sqrt(hd)
    visible = torch.ones(B, 1, Tq, Tk, dtype=torch.bool)
    if causal:
        i = torch.arange(Tq).view(Tq, 1)
        j = torch.arange(Tk).view(1, Tk)
        visible = visible & (j <= i + (Tk - Tq))
    if lengths is not None:
        visible = visible & (torch.arange(Tk).view(1, 1, 1, Tk) < torch.tensor(lengths).view(B, 1, 1, 1))
    scores = scores.masked_fill(~visible, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    probs = torch.nan_to_num(probs, nan=0.0)  # rows with no visible key: all -inf -> NaN -> 0
    out = (probs @ vh).transpose(1, 2).reshape(B, Tq, C)
    return out, probs


def check(name, B, Tq, Tk, H, hd, causal, layout, lengths):
    global failures
    C = H * hd
    if layout == FUSED:
        x = torch.randn(B, Tq, 3 * C, dtype=torch.float64)
    elif layout == CROSS:
        x = torch.cat([torch.randn(B * Tq * C), torch.randn(B * Tk * 2 * C)]).double()
    else:
        x = torch.randn(B * Tq * C + 2 * B * Tk * C, dtype=torch.float64)
    x = x.float().double().requires_grad_(True)  # values exactly representable in float32
    flat = x.reshape(-1)
    if layout == FUSED:
        q, k, v = x[:, :, :C], x[:, :, C:2 * C], x[:, :, 2 * C:]
    elif layout == CROSS:
        q = flat[: B * Tq * C].view(B, Tq, C)
        kv = flat[B * Tq * C:].view(B, Tk, 2 * C)
        k, v = kv[:, :, :C], kv[:, :, C:]
    else:
        q = flat[: B * Tq * C].view(B, Tq, C)
        k = flat[B * Tq * C: B * Tq * C + B * Tk * C].view(B, Tk, C)
        v = flat[B * Tq * C + B * Tk * C:].view(B, Tk, C)
    dout = torch.randn(B, Tq, C).double()
    out, probs = torch_attention(q.contiguous(), k.contiguous(), v.contiguous(), H, causal, lengths)
    out.backward(dout)
    with tempfile.TemporaryDirectory() as tmp:
        inp, res = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
        with open(inp, "wb") as f:
            f.write(struct.pack("<8i", B, Tq, Tk, H, hd, int(causal), layout, int(lengths is not None)))
            if lengths is not None:
                f.write(struct.pack(f"<{B}i", *lengths))
            f.write(flat.detach().float().numpy().tobytes())
            f.write(dout.float().numpy().tobytes())
        run = subprocess.run([DRIVER, "--torch-io", inp, res], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"FAILED {name}: driver exit {run.returncode}: {run.stderr}")
            failures += 1
            return
        import numpy as np
        data = np.fromfile(res, dtype=np.float32)
    n_out, n_probs = out.numel(), probs.numel()
    ours = {
        "out": torch.from_numpy(data[:n_out].copy()).double(),
        "probs": torch.from_numpy(data[n_out:n_out + n_probs].copy()).double(),
        "grad": torch.from_numpy(data[n_out + n_probs:].copy()).double(),
    }
    theirs = {"out": out.detach().reshape(-1), "probs": probs.detach().reshape(-1), "grad": x.grad.reshape(-1)}
    for key in ours:
        a, b = ours[key], theirs[key]
        if a.numel() != b.numel():
            print(f"FAILED {name}: {key} has {a.numel()} values, expected {b.numel()}")
            failures += 1
            continue
        err = ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
        ok = err < 1e-5
        failures += not ok
        print(f"{'ok' if ok else 'FAILED'} {name}: {key} max error / max value = {err:.2e}")


check("causal self-attention, fused QKV, padding", 3, 70, 70, 4, 12, True, FUSED, [70, 0, 33])
check("cross-attention Tq != Tk, padding", 2, 9, 23, 2, 7, False, CROSS, [23, 5])
check("causal with query offset (KV-cache step)", 2, 3, 40, 3, 16, True, SEPARATE, None)
check("GPT-2 small head size", 1, 130, 130, 2, 64, True, FUSED, None)


# Printed, not asserted: PyTorch's explicit attention (this torch has no fused SDPA) vs ours, 2 threads.
def torch_speed(B, T, C, H, reps=5):
    torch.set_num_threads(2)
    hd = C // H
    qkv = torch.randn(B, T, 3 * C, requires_grad=True)
    dout = torch.randn(B, T, C)
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def forward():
        q, k, v = qkv.split(C, dim=2)
        q, k, v = (t.reshape(B, T, H, hd).transpose(1, 2) for t in (q, k, v))
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
        return (p @ v).transpose(1, 2).reshape(B, T, C)

    forward().backward(dout)
    tf = tb = float("inf")  # best of `reps`, like the C side: the machine may be shared
    for _ in range(reps):
        t0 = time.perf_counter()
        o = forward()
        t1 = time.perf_counter()
        o.backward(dout)
        tf = min(tf, t1 - t0)
        tb = min(tb, time.perf_counter() - t1)
    print(f"torch {torch.__version__} B={B} T={T} C={C} H={H} causal (2 threads): fwd {1e3 * tf:.2f} ms + "
          f"bwd {1e3 * tb:.2f} ms = {1e3 * (tf + tb):.2f} ms")


torch_speed(32, 128, 128, 4)
torch_speed(8, 256, 512, 8)
speed = subprocess.run([DRIVER, "--speed"], capture_output=True, text=True)
print(speed.stdout, end="")
print(f"{failures} failed")
sys.exit(1 if failures else 0)
