"""Checkpoint directories shared with tfm: model.safetensors (HF GPT-2 names/layouts, F32) + config.json (HF GPT-2
keys), and tfm training config files ({"model": {...}, "train": {...}} with tfm's names or HF's)."""
import json
import os

import numpy as np
import torch

from .gpt import GPT, GPTConfig
from . import safetensors_io

# tfm training-config names -> GPTConfig (Hugging Face GPT-2) names.
_TFM_TO_HF = {
    "vocab_size": "vocab_size",
    "context_length": "n_positions",
    "d_model": "n_embd",
    "n_layers": "n_layer",
    "n_heads": "n_head",
    "d_ff": "n_inner",
    "layernorm_eps": "layer_norm_epsilon",
}
_HF_KEYS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "layer_norm_epsilon",
            "resid_pdrop", "embd_pdrop", "attn_pdrop")


def config_to_json(config):
    """config.json text with Hugging Face GPT-2 keys."""
    d = {
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.n_positions,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": config.d_ff,
        "activation_function": config.activation_function,
        "resid_pdrop": config.resid_pdrop,
        "embd_pdrop": config.embd_pdrop,
        "attn_pdrop": config.attn_pdrop,
        "layer_norm_epsilon": config.layer_norm_epsilon,
    }
    if config.norm != "layernorm" or config.positions != "learned":
        d["tfm"] = {"norm": config.norm, "positions": config.positions, "rope_base": config.rope_base,
                    "relative_clip": config.relative_clip}
    return json.dumps(d, indent=2) + "\n"


def config_from_dict(d, source="config"):
    """GPTConfig from a dict with HF keys or tfm's names (unknown keys are ignored; "dropout" sets all three)."""
    values = {}
    for key, value in d.items():
        name = _TFM_TO_HF.get(key, key)
        if name in _HF_KEYS:
            values[name] = value
    if "dropout" in d:
        for name in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):
            values.setdefault(name, d["dropout"])
    if values.get("n_inner") is None:
        values["n_inner"] = 0
    # transformers' "activation_function", or tfm's "activation" (where "gelu" is the tanh form, "gelu_erf" the exact)
    if "activation_function" in d:
        act = {"gelu_pytorch_tanh": "gelu_new", "swish": "silu"}.get(d["activation_function"], d["activation_function"])
    else:
        act = {"gelu": "gelu_new", "gelu_erf": "gelu"}.get(d.get("activation", "gelu"), d.get("activation", "gelu"))
    values["activation_function"] = act
    values["norm"] = d.get("tfm", {}).get("norm", d.get("norm", "layernorm"))
    values["positions"] = d.get("tfm", {}).get("positions", d.get("positions", "learned"))
    values["rope_base"] = float(d.get("tfm", {}).get("rope_base", d.get("rope_base", 10000.0)))
    values["relative_clip"] = int(d.get("tfm", {}).get("relative_clip", d.get("relative_clip", 16)))
    if d.get("pre_layernorm", True) in (False, 0):
        raise ValueError(f"{source}: post-LayerNorm is not implemented in the reference")
    for required in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
        if required not in values:
            raise ValueError(f"{source}: missing {required}")
    config = GPTConfig(**{k: (v if k in ("activation_function", "norm", "positions", "rope_base") else float(v) if k.endswith(("pdrop", "epsilon")) else int(v))
                          for k, v in values.items()})
    config.validate()
    return config


def load_train_config(path):
    """A tfm training config file -> (GPTConfig, the "train" dict as written)."""
    with open(path) as f:
        d = json.load(f)
    model = d.get("model", d)
    return config_from_dict(model, path), d.get("train", {})


def save_checkpoint(directory, model):
    """Write DIR/model.safetensors (F32) and DIR/config.json for a GPT."""
    os.makedirs(directory, exist_ok=True)
    tensors = {name: p.detach().to(torch.float32).cpu().numpy() for name, p in model.named_parameters()}
    # BatchNorm's running statistics travel with the weights (not its integer num_batches_tracked)
    tensors.update({name: b.detach().to(torch.float32).cpu().numpy() for name, b in model.named_buffers()
                    if name.endswith(("running_mean", "running_var"))})
    safetensors_io.save(os.path.join(directory, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(directory, "config.json"), "w") as f:
        f.write(config_to_json(model.config))


def load_checkpoint(directory, dtype=torch.float32):
    """Read DIR/config.json + DIR/model.safetensors into a GPT. Every parameter must be present with the expected shape;
    extra tensors (e.g. an explicit lm_head.weight equal to wte) are ignored."""
    if os.path.isdir(os.path.join(directory, "current")):  # a training run: its current checkpoint
        directory = os.path.join(directory, "current")
    with open(os.path.join(directory, "config.json")) as f:
        config = config_from_dict(json.load(f), os.path.join(directory, "config.json"))
    model = GPT(config)
    tensors = safetensors_io.load(os.path.join(directory, "model.safetensors"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name not in tensors:
                raise ValueError(f"{directory}/model.safetensors: missing tensor {name}")
            array = tensors[name]
            if tuple(array.shape) != tuple(p.shape):
                raise ValueError(f"{directory}/model.safetensors: {name} has shape {list(array.shape)}, "
                                 f"expected {list(p.shape)}")
            p.copy_(torch.from_numpy(np.asarray(array, dtype=np.float32)))
    return model.to(dtype)
