"""The reference GPT in PyTorch: the same math as tfm's GPT, with Hugging Face GPT-2 parameter names and layouts.

Decoder-only, pre-LayerNorm blocks (x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))), a final ln_f, learned positions,
tanh-approximated GELU ("gelu_new"), LayerNorm eps 1e-5, every projection has a bias, and the output projection is
tied to the token embedding (logits = ln_f(x) @ wte^T). Projections are GPT-2 "Conv1D"s: weight stored [in, out], so
`model.state_dict()` already has the on-disk names and layouts (transformer.h.0.attn.c_attn.weight is [C, 3C]).
The c_attn output splits as q = [:, 0:C], k = [:, C:2C], v = [:, 2C:3C], each holding the heads one after another.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 256
    n_positions: int = 128      # T_max: rows of the learned position table
    n_embd: int = 128           # C
    n_layer: int = 4            # L
    n_head: int = 4             # H
    n_inner: int = 0            # FFN width; 0 means 4 * n_embd
    resid_pdrop: float = 0.0
    embd_pdrop: float = 0.0
    attn_pdrop: float = 0.0
    layer_norm_epsilon: float = 1e-5
    activation_function: str = "gelu_new"   # a key of ACTIVATIONS (transformers' names; tfm's for the ones it lacks)
    norm: str = "layernorm"                 # tfm's model.norm: "layernorm", "rmsnorm" or "batchnorm"
    positions: str = "learned"              # tfm's model.positions: "learned" (wpe), "sinusoidal", "rope" (transformers'
                                            # Llama rotary), "alibi" or "relative" (Shaw et al.)
    rope_base: float = 10000.0
    relative_clip: int = 16

    @property
    def d_ff(self):
        return self.n_inner if self.n_inner else 4 * self.n_embd

    def validate(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")
        for field, value in asdict(self).items():
            if field.endswith("pdrop"):
                if not 0.0 <= value < 1.0:
                    raise ValueError(f"{field} must be in [0, 1), got {value}")
            elif field == "positions":
                if value not in ("learned", "sinusoidal", "rope", "alibi", "relative"):
                    raise ValueError(f"positions {value!r}: expected learned, sinusoidal, rope, alibi or relative")
            elif field == "rope_base":
                if value <= 1:
                    raise ValueError(f"rope_base must be above 1, got {value}")
            elif field == "norm":
                if value not in ("layernorm", "rmsnorm", "batchnorm"):
                    raise ValueError(f"norm {value!r}: expected layernorm, rmsnorm or batchnorm")
            elif field == "activation_function":
                if value not in ACTIVATIONS and value != "prelu":
                    raise ValueError(f"activation_function {value!r}: expected one of {sorted(ACTIVATIONS)}")
            elif field != "n_inner" and value <= 0:
                raise ValueError(f"{field} must be positive, got {value}")


def gelu_new(x):
    """GPT-2's tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); F.gelu(approximate="tanh") is
    the same formula in one fused kernel."""
    return F.gelu(x, approximate="tanh")


class Conv1D(nn.Module):
    """y = x @ weight + bias with weight [in, out] (Hugging Face GPT-2's layout)."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):  # [..., in] -> [..., out]
        shape = x.shape[:-1] + (self.weight.shape[1],)
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(shape)


class KVCache:
    """Keys and values of the positions seen so far, per layer: preallocated [B, H, T_max, D] so that decoding one
    token appends in place instead of concatenating."""

    def __init__(self, config, batch, dtype=torch.float32, device="cpu"):
        head_dim = config.n_embd // config.n_head
        shape = (batch, config.n_head, config.n_positions, head_dim)
        self.keys = [torch.empty(shape, dtype=dtype, device=device) for _ in range(config.n_layer)]
        self.values = [torch.empty(shape, dtype=dtype, device=device) for _ in range(config.n_layer)]
        self.length = 0  # positions already stored


def sinusoid_table(rows, C, dtype=torch.float64):
    """The paper's table: table[pos, 2i] = sin(pos / 10000^(2i/C)), table[pos, 2i+1] = cos(same), in float64."""
    pos = torch.arange(rows, dtype=torch.float64)[:, None]
    pair = torch.div(torch.arange(C), 2, rounding_mode="floor")[None, :].to(torch.float64)
    angle = pos * torch.pow(torch.tensor(10000.0, dtype=torch.float64), -2.0 * pair / C)
    return torch.where(torch.arange(C)[None, :] % 2 == 0, torch.sin(angle), torch.cos(angle)).to(dtype)


def relative_rows(query_pos, key_pos, clip):
    """Shaw et al. (2018), section 3.2: the table row of (query i, key j) is clip(j - i, -k, k) + k. -> [Tq, Tk] int64"""
    return torch.clamp(key_pos[None, :] - query_pos[:, None], -clip, clip) + clip


def alibi_slopes(n):
    """ALiBi's head slopes as its authors' reference code computes them (github.com/ofirpress/attention_with_linear_biases,
    get_slopes): 2^(-8 (i + 1) / n) for n a power of two, else those of the power below and every other of the one above."""
    def power_of_2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][:n - closest]


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = Conv1D(config.n_embd, 3 * config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)
        self.rotary = None
        self.alibi = config.positions == "alibi"
        self.relative_clip = config.relative_clip if config.positions == "relative" else 0
        if self.relative_clip:  # Shaw et al.'s a^K and a^V: [2k+1, D] each, shared by the heads of the layer
            D = config.n_embd // config.n_head
            self.relative_keys = nn.Parameter(torch.zeros(2 * self.relative_clip + 1, D))
            self.relative_values = nn.Parameter(torch.zeros(2 * self.relative_clip + 1, D))
        if config.positions == "rope":  # transformers' own Llama rotary code path
            from transformers import LlamaConfig
            from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
            self.rotary = LlamaRotaryEmbedding(LlamaConfig(hidden_size=config.n_embd, num_attention_heads=config.n_head,
                                                           max_position_embeddings=config.n_positions, rope_theta=config.rope_base))

    def forward(self, x, cache=None, layer=0):
        B, T, C = x.shape
        H = self.n_head
        D = C // H
        q, k, v = self.c_attn(x).split(C, dim=2)              # each [B, T, C]
        q = q.view(B, T, H, D).transpose(1, 2)                # [B, H, T, D]
        k = k.view(B, T, H, D).transpose(1, 2)
        v = v.view(B, T, H, D).transpose(1, 2)
        start = cache.length if cache is not None else 0
        if self.rotary is not None:
            from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
            positions = torch.arange(start, start + T, device=x.device)[None, :]
            cos, sin = self.rotary(v, positions)
            q, k = apply_rotary_pos_emb(q, k, cos.to(q.dtype), sin.to(q.dtype))
        if cache is not None:
            cache.keys[layer][:, :, start:start + T] = k
            cache.values[layer][:, :, start:start + T] = v
            k = cache.keys[layer][:, :, :start + T]           # [B, H, start + T, D]
            v = cache.values[layer][:, :, :start + T]
        scores = q @ k.transpose(-2, -1)                      # [B, H, T, start + T]
        if self.relative_clip:  # Shaw et al. eq. (5): e_ij = q_i (k_j + a^K_ij) / sqrt(d)
            rows = relative_rows(torch.arange(start, start + T), torch.arange(start + T), self.relative_clip)
            a_keys = self.relative_keys[rows]                 # [T, start + T, D]
            scores = scores + torch.einsum("bhid,ijd->bhij", q, a_keys)
        scores = scores * (1.0 / math.sqrt(D))
        if T > 1:
            # Query i (absolute position start + i) sees keys 0 .. start + i.
            key_pos = torch.arange(start + T, device=x.device)
            query_pos = torch.arange(start, start + T, device=x.device)
            mask = key_pos[None, :] > query_pos[:, None]      # [T, start + T], True = hidden
            scores = scores.masked_fill(mask, float("-inf"))
        if self.alibi:  # Press et al.: slope_h (j - i) added to every score (the mask still hides j > i)
            key_pos = torch.arange(start + T, device=x.device, dtype=scores.dtype)
            query_pos = torch.arange(start, start + T, device=x.device, dtype=scores.dtype)
            slopes = torch.tensor(alibi_slopes(H), dtype=scores.dtype)[:, None, None]
            scores = scores + slopes * (key_pos[None, :] - query_pos[:, None])
        weights = self.attn_dropout(F.softmax(scores, dim=-1))
        y = weights @ v                                       # [B, H, T, D]
        if self.relative_clip:  # eq. (3): z_i = sum_j alpha_ij (v_j + a^V_ij)
            y = y + torch.einsum("bhij,ijd->bhid", weights, self.relative_values[rows])
        y = y.transpose(1, 2).reshape(B, T, C)                # heads back side by side: [B, T, C]
        return self.resid_dropout(self.c_proj(y))


# The FFN's activation by transformers' name ("gelu" is the exact erf form there); ELU, SELU and ThresholdedReLU
# (theta 1, Keras') have no transformers name and go by tfm's.
ACTIVATIONS = {
    "gelu_new": gelu_new,
    "gelu": F.gelu,
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "selu": F.selu,
    "thresholded_relu": lambda x: F.threshold(x, 1.0, 0.0),
}


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = Conv1D(config.n_embd, config.d_ff)
        self.c_proj = Conv1D(config.d_ff, config.n_embd)
        self.dropout = nn.Dropout(config.resid_pdrop)
        self.activation = config.activation_function
        if self.activation == "prelu":  # tfm's FFN-only choice: one learned slope per layer, 0.25 at the start
            self.prelu = nn.PReLU(init=0.25)

    def forward(self, x):
        act = self.prelu if self.activation == "prelu" else ACTIVATIONS[self.activation]
        return self.dropout(self.c_proj(act(self.c_fc(x))))


class MaskedBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the rows of [..., C]. With `rows` None (GPT) torch's own BatchNorm1d over all of them; with
    `rows` a [B, T] bool set before each pass (the encoder-decoder's real tokens) training statistics over the flagged
    rows only and 0 out of the others, as tfm's; evaluation is torch's either way."""
    rows = None

    def forward(self, x):
        flat = x.reshape(-1, x.shape[-1])
        if not self.training or self.rows is None:
            return super().forward(flat).reshape(x.shape)
        keep = self.rows.reshape(-1)
        real = flat[keep]
        mean, var = real.mean(0), real.var(0, unbiased=False)
        with torch.no_grad():
            n = real.shape[0]
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
        out = (flat - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
        return (out * keep[:, None].to(out.dtype)).reshape(x.shape)


def make_norm(kind, width, eps):
    """tfm's model.norm: "layernorm", "rmsnorm" or "batchnorm" (momentum 0.1, torch's default)."""
    if kind == "rmsnorm":
        return nn.RMSNorm(width, eps=eps)
    if kind == "batchnorm":
        return MaskedBatchNorm(width, eps=eps, momentum=0.1)
    return nn.LayerNorm(width, eps=eps)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = make_norm(config.norm, config.n_embd, config.layer_norm_epsilon)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = make_norm(config.norm, config.n_embd, config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, x, cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd) if config.positions == "learned" else None
        if config.positions == "sinusoidal":
            self.register_buffer("sinusoid", sinusoid_table(config.n_positions, config.n_embd), persistent=False)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = make_norm(config.norm, config.n_embd, config.layer_norm_epsilon)


class GPT(nn.Module):
    """Parameters are named exactly as in a GPT-2 checkpoint (transformer.wte.weight, ...); no lm_head (tied)."""

    def __init__(self, config):
        super().__init__()
        config.validate()
        self.config = config
        self.transformer = Transformer(config)
        self.init_weights()

    def init_weights(self, generator=None):
        """GPT-2's initialisation: weights and embeddings N(0, 0.02), residual output projections (attn.c_proj,
        mlp.c_proj) N(0, 0.02 / sqrt(2 L)), biases 0, LayerNorm gain 1 and bias 0."""
        std = 0.02
        with torch.no_grad():
            for name, p in self.named_parameters():
                if ".ln_" in name or name.startswith("transformer.ln_f"):
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif name.endswith("bias"):
                    p.zero_()
                elif name.endswith("c_proj.weight"):
                    p.normal_(0.0, std / math.sqrt(2 * self.config.n_layer), generator=generator)
                else:
                    p.normal_(0.0, std, generator=generator)

    def decay_parameter_names(self):
        """AdamW decays matrices and both embeddings (every 2-D parameter), not biases or LayerNorm parameters."""
        return [name for name, p in self.named_parameters() if p.dim() >= 2]

    def forward(self, tokens, targets=None, cache=None):
        """tokens [B, T] int64 -> logits [B, T, V]; with targets [B, T] (-100 = ignore) also the mean cross-entropy
        over the non-ignored positions. With a KVCache, `tokens` continue the cached positions."""
        B, T = tokens.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.n_positions:
            raise ValueError(f"sequence of {start + T} positions exceeds n_positions {self.config.n_positions}")
        tr = self.transformer
        positions = torch.arange(start, start + T, device=tokens.device)
        x = tr.wte(tokens) + (tr.wpe(positions) if tr.wpe is not None else 0.0)
        if self.config.positions == "sinusoidal":
            x = x + tr.sinusoid[start:start + T].to(x.dtype)
        x = tr.drop(x)                                         # [B, T, C]
        for layer, block in enumerate(tr.h):
            x = block(x, cache, layer)
        if cache is not None:
            cache.length = start + T
        logits = tr.ln_f(x) @ tr.wte.weight.t()              # [B, T, V]
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    def make_optimizer(self, learning_rate, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1):
        decay = set(self.decay_parameter_names())
        groups = [
            {"params": [p for n, p in self.named_parameters() if n in decay], "weight_decay": weight_decay},
            {"params": [p for n, p in self.named_parameters() if n not in decay], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps)

    @torch.no_grad()
    def generate(self, prompt, max_new_tokens, temperature=0.0, top_k=0, generator=None):
        """Incremental decoding with a KV cache, batch 1. prompt: list of ints. temperature 0 (or top_k 1) is greedy.
        Returns the new tokens as a list."""
        cache = KVCache(self.config, 1, dtype=self.transformer.wte.weight.dtype)
        tokens = torch.tensor([prompt], dtype=torch.long)
        out = []
        for _ in range(max_new_tokens):
            logits = self.forward(tokens, cache=cache)[0, -1]  # [V]
            if temperature <= 0.0 or top_k == 1:
                next_token = int(torch.argmax(logits))
            else:
                logits = logits / temperature
                if top_k > 0:
                    kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = F.softmax(logits, dim=-1)
                next_token = int(torch.multinomial(probs, 1, generator=generator))
            out.append(next_token)
            tokens = torch.tensor([[next_token]], dtype=torch.long)
        return out


def give_teeth(model):
    """In place, weights larger than GPT-2's 0.02 initialisation, so that a parity test has teeth: attention scores and
    GELU inputs are O(1) (a missing 1/sqrt(D) or erf-GELU instead of tanh-GELU changes the logits well past the
    tolerance; at 0.02 attention is nearly uniform and GELU nearly linear, hiding such bugs), logits are O(1), and
    LayerNorm gains/biases and all biases are moved away from 1/0 so their use and gradients are tested. For this
    reference and for transformers' GPT2LMHeadModel alike (the same names; Conv1D weights are [in, out])."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.normal_(0.0, 0.05)
            elif name == "transformer.wte.weight":
                p.normal_(0.0, 0.3)
            elif name == "transformer.wpe.weight":
                p.normal_(0.0, 0.1)
            elif name.endswith("attn.c_attn.weight"):
                p.normal_(0.0, 1.2 / math.sqrt(p.shape[0]))
            elif name.endswith("mlp.c_fc.weight"):
                p.normal_(0.0, 1.5 / math.sqrt(p.shape[0]))
            elif name.endswith(("attn.c_proj.weight", "mlp.c_proj.weight")):
                p.normal_(0.0, 0.5 / math.sqrt(p.shape[0]))
            elif name.endswith("mlp.prelu.weight"):
                p.fill_(0.3)
            elif name.endswith(("attn.relative_keys", "attn.relative_values")):
                p.normal_(0.0, 0.5)
            else:
                raise AssertionError(f"give_teeth: no initialisation rule for {name}")
    return model


def count_parameters(config, include_position_embeddings=True):
    """Parameter count from the config alone (tied output projection counted once, inside wte)."""
    C, L, V, F_ = config.n_embd, config.n_layer, config.vocab_size, config.d_ff
    per_layer = 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + 2 * C + (C * F_ + F_) + (F_ * C + C)
    total = V * C + L * per_layer + 2 * C
    if include_position_embeddings:
        total += config.n_positions * C
    return total
