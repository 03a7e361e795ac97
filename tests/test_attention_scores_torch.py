# tests/test_attention_scores_torch.py: attention with dot, scaled-dot, general (Luong) and additive (Bahdanau) scores
# against the same formulas in torch float64 (values and every gradient).
"""The formulas, as published: dot q.k; scaled q.k / sqrt(D) (Vaswani et al. 2017); general q.(W k) (Luong et al.,
"Effective Approaches to Attention-based Neural Machine Translation", 2015, eq. 8); additive u.tanh(Wq q + Wk k)
(Bahdanau et al., "Neural Machine Translation by Jointly Learning to Align and Translate", 2015, appendix A.1.2);
then softmax over the unmasked keys and the weighted sum of the values. The scaled case is also held to torch's own
F.scaled_dot_product_attention. Padding keys (key_lengths) and causal masks are exercised; tfm's context and the
gradients of sum(context * dcontext) for q, k, v and the score's weights must be within 1e-5 of each tensor's scale.

A missing torch or tool is a failure, never a skip.
"""
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import import_references, test_tool  # noqa: E402

torch, np = import_references("torch", "numpy")
TOOL = test_tool("attention_values")
F = torch.nn.functional

TOLERANCE = 1e-5
# (kind, B, Tq, Tk, D, Dv, A, causal, key lengths)
CASES = [("dot", 2, 5, 7, 8, 6, 0, False, [7, 3]), ("scaled_dot", 3, 6, 6, 16, 8, 0, True, None),
         ("scaled_dot", 2, 4, 9, 8, 8, 0, False, [9, 5]), ("general", 2, 5, 7, 8, 6, 0, False, [7, 2]),
         ("general", 2, 6, 6, 12, 5, 0, True, None), ("additive", 2, 5, 7, 8, 6, 10, False, [7, 4]),
         ("additive", 3, 4, 4, 6, 6, 7, True, None)]


def reference(kind, tensors, causal, lengths, Tq, Tk):
    q, k, v = tensors[:3]
    D = q.shape[-1]
    if kind == "dot":
        s = q @ k.transpose(1, 2)
    elif kind == "scaled_dot":
        s = q @ k.transpose(1, 2) / math.sqrt(D)
    elif kind == "general":
        s = q @ (k @ tensors[3].t()).transpose(1, 2)
    else:
        Wq, Wk, u = tensors[3:]
        s = torch.tanh((q @ Wq.t())[:, :, None, :] + (k @ Wk.t())[:, None, :, :]) @ u
    mask = torch.zeros(q.shape[0], Tq, Tk, dtype=torch.bool)
    if lengths:
        for b, n in enumerate(lengths):
            mask[b, :, n:] = True
    if causal:
        mask |= torch.ones(Tq, Tk, dtype=torch.bool).triu(1)
    return F.softmax(s.masked_fill(mask, float("-inf")), dim=-1) @ v, mask


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for index, (kind, B, Tq, Tk, D, Dv, A, causal, lengths) in enumerate(CASES):
            rng = np.random.default_rng(index)
            shapes = [(B, Tq, D), (B, Tk, D), (B, Tk, Dv)] + ([(D, D)] if kind == "general" else []) + \
                     ([(A, D), (A, D), (A,)] if kind == "additive" else [])
            arrays = [(0.5 * rng.standard_normal(s)).astype(np.float32) for s in shapes]
            dctx = rng.standard_normal((B, Tq, Dv)).astype(np.float32)
            np.concatenate([a.ravel() for a in arrays] + [dctx.ravel()]).tofile(os.path.join(work, "inputs.f32"))
            args = [TOOL, work, kind, str(B), str(Tq), str(Tk), str(D), str(Dv), str(A), str(int(causal))] + [str(n) for n in (lengths or [])]
            out = subprocess.run(args, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"attention_values failed ({out.returncode}): {out.stderr}")
            tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
            ctx, mask = reference(kind, tensors, causal, lengths, Tq, Tk)
            (ctx * torch.tensor(dctx, dtype=torch.float64)).sum().backward()
            ours_ctx = np.fromfile(os.path.join(work, "context.f32"), dtype=np.float32)
            grads = np.fromfile(os.path.join(work, "grads.f32"), dtype=np.float32)
            checks, at = [("context", ours_ctx, ctx.detach().numpy().ravel())], 0
            for name, t in zip(["q", "k", "v", "W" if kind == "general" else "Wq", "Wk", "u"], tensors):
                checks.append((f"d{name}", grads[at:at + t.numel()], t.grad.numpy().ravel()))
                at += t.numel()
            if kind == "scaled_dot":  # torch's own kernel on the same inputs
                sdpa = F.scaled_dot_product_attention(*[t.detach() for t in tensors[:3]], attn_mask=~mask)
                checks.append(("context vs F.scaled_dot_product_attention", ours_ctx, sdpa.numpy().ravel()))
            worst, worst_name = 0.0, None
            for name, ours, theirs in checks:
                err = float(np.max(np.abs(ours - theirs))) / max(float(np.max(np.abs(theirs))), 1e-12)
                if err > worst:
                    worst, worst_name = err, name
            ok = worst <= TOLERANCE
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {kind} B{B} Tq{Tq} Tk{Tk} D{D} Dv{Dv}{f' A{A}' if A else ''}{' causal' if causal else ''}"
                  f"{f' lengths {lengths}' if lengths else ''}: {len(checks)} tensors, worst {worst:.1e} ({worst_name})")
    print(f"torch {torch.__version__}")
    if failures:
        raise SystemExit(f"{failures} attention case(s) differ")


if __name__ == "__main__":
    main()
