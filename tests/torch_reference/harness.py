"""The one parity harness: run a tfm parity tool on a case directory and hold what it wrote to a float64 reference.

A model's parity test (tests/test_gpt_torch.py, tests/test_seq2seq_torch.py, ...) brings its cases, its reference and
the checks particular to it; the harness does the rest: find the tool, run it, read DIR/actual.safetensors, check the
shape and finiteness of every tensor it returns, compare logits, loss, every gradient and the optimizer-step losses,
collect failures per case and print the "N passed, N failed" line. A missing tool is a failure, never a skip.
"""
import os
import shutil
import subprocess
import sys

import numpy as np

from torch_reference import safetensors_io


class Case:
    """One case's checks: each prints ok/FAIL; failures are kept with the case's name."""

    def __init__(self, name, work):
        self.name, self.work, self.failures, self.actual = name, work, [], None

    def check(self, ok, message):
        print(("  ok    " if ok else "  FAIL  ") + message)
        if not ok:
            self.failures.append(f"{self.name}: {message}")
        return ok

    def run(self, tool):
        """Run `tool DIR`; then self.actual holds DIR/actual.safetensors. False (after a FAIL) if either fails."""
        proc = subprocess.run(tool + [self.work], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            return self.check(False, f"{' '.join(tool)} {self.work} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        try:
            self.actual = safetensors_io.load(os.path.join(self.work, "actual.safetensors"))
        except (OSError, ValueError) as e:
            return self.check(False, f"cannot read actual.safetensors: {e}")
        return True

    def get(self, key, shape):
        """tfm's tensor `key` as float64, or None (after a FAIL) when it is missing, misshapen, not fp32-or-int or not finite."""
        if key not in self.actual:
            self.check(False, f"actual.safetensors has no '{key}'")
            return None
        a = self.actual[key]
        if a.dtype != np.float32 and not np.issubdtype(a.dtype, np.integer):
            self.check(False, f"'{key}' is {a.dtype}, expected float32")
        if tuple(a.shape) != tuple(shape):
            self.check(False, f"'{key}' has shape {list(a.shape)}, expected {list(shape)}")
            return None
        if not np.all(np.isfinite(a)):
            self.check(False, f"'{key}' has non-finite values")
            return None
        return a.astype(np.float64)

    def compare_forward_backward(self, ref, logits_tol, loss_tol, grad_rel_tol, require_nonzero_grads=False):
        """Logits (max abs), loss (abs) and every parameter's gradient (max abs / max |ref|) against ref's
        "logits", "loss" and "grads" {name: array}; tfm must return no gradient the reference lacks."""
        logits = self.get("logits", ref["logits"].shape)
        if logits is not None:
            diff = float(np.max(np.abs(logits - ref["logits"])))
            scale = float(np.max(np.abs(ref["logits"])))
            self.check(diff <= logits_tol, f"logits max abs diff {diff:.3e} (tol {logits_tol:.0e}; logits up to {scale:.2f})")
        loss = self.get("loss", (1,))
        if loss is not None:
            diff = abs(float(loss[0]) - ref["loss"])
            self.check(diff <= loss_tol, f"loss {float(loss[0]):.6f} vs reference {ref['loss']:.6f}: diff {diff:.3e}")
        worst_name, worst = None, 0.0
        # A tensor's errors are relative to its largest gradient, but never to less than 1e-4 of the model's largest
        # (every entry is held to 1e-7 of the model's gradient scale): a gradient that is zero in exact arithmetic
        # (a bias right before BatchNorm, which removes any shift) is float32 noise, not a meaningful scale.
        model_scale = max((float(np.max(np.abs(g))) for g in ref["grads"].values()), default=0.0)
        for name, g_ref in ref["grads"].items():
            g = self.get("grad." + name, g_ref.shape)
            if g is None:
                continue
            if require_nonzero_grads and float(np.max(np.abs(g_ref))) == 0.0:
                self.check(False, f"grad.{name}: the reference gradient is all zero (the case does not exercise it)")
            rel = float(np.max(np.abs(g - g_ref))) / max(float(np.max(np.abs(g_ref))), 1e-4 * model_scale, 1e-6)
            if rel > grad_rel_tol:
                self.check(False, f"grad.{name}: relative error {rel:.3e} (tol {grad_rel_tol:.0e})")
            if rel >= worst:
                worst_name, worst = name, rel
        self.check(worst <= grad_rel_tol, f"{len(ref['grads'])} gradients: worst relative error {worst:.3e} ({worst_name})")
        extra = sorted(k for k in self.actual if k.startswith("grad.") and k[5:] not in ref["grads"])
        self.check(not extra, f"no gradients for unknown parameters (extra: {extra[:5]})")

    def compare_steps(self, ref_losses, tol, what, min_decrease):
        """tfm's "step_losses" against the reference's, and the reference must fall by min_decrease (or the
        comparison proves nothing about the optimizer)."""
        steps = self.get("step_losses", (len(ref_losses),))
        if steps is None:
            return
        diff = float(np.max(np.abs(steps - np.array(ref_losses))))
        self.check(diff <= tol, f"{len(steps)} {what}: max abs loss diff {diff:.3e} (ref {ref_losses[0]:.5f} -> {ref_losses[-1]:.5f}, "
                                f"tfm {steps[0]:.5f} -> {steps[-1]:.5f})")
        self.check(ref_losses[-1] < ref_losses[0] - min_decrease, "the reference loss decreases over the steps")

    def finish(self, failures):
        failures.extend(self.failures)
        if not self.failures:
            shutil.rmtree(self.work, ignore_errors=True)


def find_tool(env_var, name):
    """The parity tool: $env_var (a command line) or $TFM_BUILD/tests/tools/<name>."""
    tool = os.environ.get(env_var)
    if tool:
        return tool.split()
    build = os.environ.get("TFM_BUILD")
    if not build:
        raise RuntimeError("TFM_BUILD is not set (run this test through ctest)")
    path = os.path.join(build, "tests", "tools", name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"parity tool {path} is missing (tests/tools/{name}.c not built?)")
    return [path]


def main(cases, run_case, tool_env, tool_name):
    """Run every case with run_case(case, tool, failures); print the failures and the summary; the exit code."""
    import torch
    torch.set_num_threads(2)
    failures = []
    try:
        tool = find_tool(tool_env, tool_name)
    except RuntimeError as e:
        print(f"FAIL: {e}")
        print("0 passed, 1 failed")
        return 1
    for case in cases:
        run_case(case, tool, failures)
    for f in failures:
        print("FAILED:", f)
    passed = len(cases) - len({f.split(":")[0] for f in failures})
    print(f"{passed} passed, {len(cases) - passed} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit("tests/torch_reference/harness.py is a library for the parity tests")
