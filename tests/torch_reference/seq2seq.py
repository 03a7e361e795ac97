"""The reference encoder-decoder in PyTorch: torch.nn.Transformer plus the embeddings, positions and output layer tfm uses.

The encoder and decoder ARE nn.Transformer's (taken from an nn.Transformer instance), so their state_dict names
("encoder.layers.0.self_attn.in_proj_weight", "decoder.layers.0.multihead_attn.in_proj_weight", "encoder.norm.weight",
...) are exactly torch's and exactly tfm's parameter names (include/tfm/seq2seq.h). Around them:

  share_embeddings:  embedding.weight [V, C] is the source embedding, the target embedding and the output projection
  otherwise:         source_embedding.weight, target_embedding.weight, output_projection.weight (no bias) [V, C]
  positions:         "sinusoidal": the paper's table, sin on even / cos on odd dims, computed in float64 here
                     "learned": source_position_embedding.weight [max_source_length, C], target_position_embedding.weight
                     "rope", "alibi", "relative": no table; every self-attention is a TfmAttention, an
                     nn.MultiheadAttention (same parameters) whose scores carry the encoding as tfm's attention does
  attention_score:   "scaled_dot" (nn.Transformer's), "dot", "general", "additive": every attention a TfmAttention
  norm:              "layernorm" (nn.Transformer's), "rmsnorm" (nn.RMSNorm) or "batchnorm" (MaskedBatchNorm: statistics
                     over the real tokens only), swapped into every layer and the final norms
  input:             x = dropout(sqrt(C) * E[token] + P[position])   (sqrt(C) only with scale_embeddings; the decoder's
                     first E[token] is zero with zero_start_embedding)

Masks: source padding (right) -> src_key_padding_mask and memory_key_padding_mask; target padding -> tgt_key_padding_mask;
causal -> tgt_mask. Note nn.Transformer applies its final encoder.norm / decoder.norm with norm_first=False too.
The "gelu" activation is the tanh approximation (tfm's), passed to nn.Transformer as a callable.
"""
import json
import math
import os
from dataclasses import dataclass, asdict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import safetensors_io
from .gpt import MaskedBatchNorm, alibi_slopes, make_norm, relative_rows

# The layers below replace nn.Transformer's modules; its fused inference kernels would bypass them.
torch.backends.mha.set_fastpath_enabled(False)


@dataclass
class Seq2SeqConfig:
    vocab_size: int = 8000
    max_source_length: int = 256
    max_target_length: int = 256
    d_model: int = 512
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    n_heads: int = 8
    d_ff: int = 2048
    dropout: float = 0.0
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    activation: str = "relu"
    pre_layernorm: bool = False
    norm: str = "layernorm"
    positions: str = "sinusoidal"
    rope_base: float = 10000.0
    relative_clip: int = 16
    attention_score: str = "scaled_dot"
    score_width: int = 0
    scale_embeddings: bool = True
    final_norm: bool = True
    zero_start_embedding: bool = False
    share_embeddings: bool = True
    layernorm_eps: float = 1e-5
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def to_json(self):
        d = {"model_type": "seq2seq"}
        d.update(asdict(self))
        return json.dumps(d, indent=2) + "\n"


def sinusoid_table(rows, C, dtype=torch.float64):
    """table[pos, 2i] = sin(pos / 10000^(2i/C)), table[pos, 2i+1] = cos(same), in float64."""
    pos = np.arange(rows, dtype=np.float64)[:, None]
    pair = np.arange(C)[None, :] // 2
    angle = pos * np.power(10000.0, -2.0 * pair / C)
    table = np.where(np.arange(C)[None, :] % 2 == 0, np.sin(angle), np.cos(angle))
    return torch.from_numpy(table).to(dtype)


class TfmAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention's parameters (in_proj_weight, in_proj_bias, out_proj), called as nn.Transformer's layers call
    self_attn / multihead_attn, with tfm's options:
      score      "scaled_dot" q.k / sqrt(D), "dot" q.k, "general" q.(W k) with score_weight W [D, D] (Luong et al. 2015),
                 "additive" u.tanh(Wq q + Wk k) with score_query_weight Wq, score_key_weight Wk [A, D] and score_vector u
                 [A] (Bahdanau et al. 2015); one set of weights for all heads
      positions  (self-attention only) rope: transformers' Llama rotary code path on queries and keys; alibi:
                 -slope_h |j - i| (the paper's slope_h (j - i) under a causal mask, its symmetric form without); relative:
                 Shaw et al. 2018, eqs. 3 and 5, tables relative_keys / relative_values [2k+1, D] shared by the heads."""

    def __init__(self, c, self_attention):
        super().__init__(c.d_model, c.n_heads, dropout=c.attention_dropout, batch_first=True)
        self.positions = c.positions if self_attention else "none"
        self.clip, self.score = c.relative_clip, c.attention_score
        D = c.d_model // c.n_heads
        A = c.score_width or D
        if self.positions == "relative":
            self.relative_keys = nn.Parameter(torch.zeros(2 * c.relative_clip + 1, D))
            self.relative_values = nn.Parameter(torch.zeros(2 * c.relative_clip + 1, D))
        if self.score == "general":
            self.score_weight = nn.Parameter(torch.zeros(D, D))
        elif self.score == "additive":
            self.score_query_weight = nn.Parameter(torch.zeros(A, D))
            self.score_key_weight = nn.Parameter(torch.zeros(A, D))
            self.score_vector = nn.Parameter(torch.zeros(A))
        if self.positions == "rope":
            from transformers import LlamaConfig
            from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
            self.rotary = LlamaRotaryEmbedding(LlamaConfig(hidden_size=c.d_model, num_attention_heads=c.n_heads,
                                                           max_position_embeddings=max(c.max_source_length, c.max_target_length),
                                                           rope_theta=c.rope_base))

    def scores(self, q, k):
        """q [B, H, Tq, D], k [B, H, Tk, D] -> [B, H, Tq, Tk] before the position biases and masks"""
        D = q.shape[-1]
        if self.score == "general":
            return q @ (k @ self.score_weight.t()).transpose(-2, -1)
        if self.score == "additive":
            pq, pk = q @ self.score_query_weight.t(), k @ self.score_key_weight.t()   # [B, H, T, A]
            return torch.tanh(pq[:, :, :, None, :] + pk[:, :, None, :, :]) @ self.score_vector
        s = q @ k.transpose(-2, -1)
        if self.positions == "relative":
            rows = relative_rows(torch.arange(q.shape[2]), torch.arange(k.shape[2]), self.clip)
            s = s + torch.einsum("bhid,ijd->bhij", q, self.relative_keys[rows])
        return s / math.sqrt(D) if self.score == "scaled_dot" else s

    def forward(self, query, key, value, key_padding_mask=None, need_weights=False, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        B, Tq, C = query.shape
        Tk, H = key.shape[1], self.num_heads
        D = C // H
        w, b = self.in_proj_weight, self.in_proj_bias
        q = F.linear(query, w[:C], b[:C])
        k = F.linear(key, w[C:2 * C], b[C:2 * C])
        v = F.linear(value, w[2 * C:], b[2 * C:])
        q, k, v = (t.reshape(B, -1, H, D).transpose(1, 2) for t in (q, k, v))   # [B, H, T, D]
        if self.positions == "rope":
            from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
            cos, sin = self.rotary(v, torch.arange(Tq)[None, :])
            q, k = apply_rotary_pos_emb(q, k, cos.to(q.dtype), sin.to(q.dtype))
        scores = self.scores(q, k)
        if self.positions == "alibi":
            slopes = torch.tensor(alibi_slopes(H), dtype=scores.dtype)[:, None, None]
            distance = (torch.arange(Tk)[None, :] - torch.arange(Tq)[:, None]).abs()
            scores = scores - slopes * distance.to(scores.dtype)
        for mask in (attn_mask, None if key_padding_mask is None else key_padding_mask[:, None, None, :]):
            if mask is not None:
                scores = scores.masked_fill(mask, -math.inf) if mask.dtype == torch.bool else scores + mask.to(scores.dtype)
        weights = F.dropout(F.softmax(scores, dim=-1), self.dropout, self.training)
        y = weights @ v
        if self.positions == "relative":
            rows = relative_rows(torch.arange(Tq), torch.arange(Tk), self.clip)
            y = y + torch.einsum("bhij,ijd->bhid", weights, self.relative_values[rows])
        return self.out_proj(y.transpose(1, 2).reshape(B, Tq, C)), None


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


class Seq2Seq(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.dropout != config.attention_dropout or config.dropout != config.activation_dropout:
            # nn.Transformer has a single dropout rate for all three places.
            raise ValueError("the reference needs dropout == attention_dropout == activation_dropout")
        self.config = config
        c = config
        # "prelu": an nn.PReLU module, which each layer (nn.Transformer deep-copies it) owns as "activation"
        activation = nn.PReLU(init=0.25) if c.activation == "prelu" else {"relu": F.relu, "gelu": gelu_tanh}[c.activation]
        transformer = nn.Transformer(d_model=c.d_model, nhead=c.n_heads, num_encoder_layers=c.n_encoder_layers,
                                     num_decoder_layers=c.n_decoder_layers, dim_feedforward=c.d_ff, dropout=c.dropout,
                                     activation=activation, layer_norm_eps=c.layernorm_eps, batch_first=True,
                                     norm_first=bool(c.pre_layernorm))
        self.encoder = transformer.encoder
        self.decoder = transformer.decoder
        for stack in (self.encoder, self.decoder):
            for layer in stack.layers:
                if "activation" in layer._modules and "activation" in layer.__dict__:
                    # TransformerDecoderLayer.__setstate__ (run by nn.Transformer's deepcopy of the layer) puts F.relu in
                    # the instance dict when the activation is a module, hiding it: drop the stray function
                    del layer.__dict__["activation"]
                if c.positions in ("rope", "alibi", "relative") or c.attention_score != "scaled_dot":
                    layer.self_attn = TfmAttention(c, self_attention=True)
                if hasattr(layer, "multihead_attn") and c.attention_score != "scaled_dot":
                    layer.multihead_attn = TfmAttention(c, self_attention=False)
                if c.norm != "layernorm":
                    for name in ("norm1", "norm2", "norm3"):
                        if hasattr(layer, name):
                            setattr(layer, name, make_norm(c.norm, c.d_model, c.layernorm_eps))
            if c.norm != "layernorm":
                stack.norm = make_norm(c.norm, c.d_model, c.layernorm_eps)
            if not c.final_norm:
                stack.norm = None  # nn.TransformerEncoder / Decoder skip a None norm
        V, C = c.vocab_size, c.d_model
        if c.share_embeddings:
            self.embedding = nn.Embedding(V, C)
        else:
            self.source_embedding = nn.Embedding(V, C)
            self.target_embedding = nn.Embedding(V, C)
            self.output_projection = nn.Linear(C, V, bias=False)
        if c.positions == "learned":
            self.source_position_embedding = nn.Embedding(c.max_source_length, C)
            self.target_position_embedding = nn.Embedding(c.max_target_length, C)
        elif c.positions == "sinusoidal":
            self.register_buffer("sinusoid", sinusoid_table(max(c.max_source_length, c.max_target_length), C),
                                 persistent=False)
        self.drop = nn.Dropout(c.dropout)

    def _embed(self, ids, table, positions, zero_start=False):
        c = self.config
        x = table(ids)
        if zero_start:  # Marian's decoder start: a zero vector in place of the first token's embedding
            x = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:]], dim=1)
        if c.scale_embeddings:
            x = x * math.sqrt(c.d_model)
        T = ids.shape[1]
        if c.positions == "sinusoidal":
            x = x + self.sinusoid[:T].to(x.dtype)
        elif c.positions == "learned":
            x = x + positions(torch.arange(T))
        return self.drop(x)

    @staticmethod
    def _flag_rows(stack, rows):
        """Tell the stack's MaskedBatchNorms which rows are real tokens ([B, T] bool, or None for all)."""
        for module in stack.modules():
            if isinstance(module, MaskedBatchNorm):
                module.rows = rows

    def encode(self, source, source_lengths):
        c = self.config
        S = source.shape[1]
        src_pad = torch.arange(S)[None, :] >= source_lengths[:, None]
        table = self.embedding if c.share_embeddings else self.source_embedding
        positions = self.source_position_embedding if c.positions == "learned" else None
        self._flag_rows(self.encoder, ~src_pad)
        return self.encoder(self._embed(source, table, positions), src_key_padding_mask=src_pad), src_pad

    def decode(self, memory, src_pad, target, target_lengths=None):
        c = self.config
        T = target.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        tgt_pad = None if target_lengths is None else torch.arange(T)[None, :] >= target_lengths[:, None]
        table = self.embedding if c.share_embeddings else self.target_embedding
        positions = self.target_position_embedding if c.positions == "learned" else None
        self._flag_rows(self.decoder, None if tgt_pad is None else ~tgt_pad)
        y = self.decoder(self._embed(target, table, positions, c.zero_start_embedding), memory, tgt_mask=causal, tgt_key_padding_mask=tgt_pad,
                         memory_key_padding_mask=src_pad)
        weight = self.embedding.weight if c.share_embeddings else self.output_projection.weight
        return F.linear(y, weight)

    def forward(self, source, source_lengths, target_input, target_lengths, target_output=None, label_smoothing=0.0):
        """-> logits [B, T, V] and (if target_output is given) the label-smoothed loss ignoring pad_id."""
        memory, src_pad = self.encode(source, source_lengths)
        logits = self.decode(memory, src_pad, target_input, target_lengths)
        if target_output is None:
            return logits, None
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_output.reshape(-1),
                               ignore_index=self.config.pad_id, label_smoothing=label_smoothing)
        return logits, loss

    @torch.no_grad()
    def greedy(self, source, source_lengths, max_length_a=0.0, max_length_b=200):
        """Straightforward greedy decoding (no cache): recompute the decoder over the whole prefix each step.
        Same rules as tfm_seq2seq_greedy: pad (and bos unless == eos) never chosen; stop at EOS or at
        min(floor(a * src_len + b), max_target_length - 1) tokens. -> list of token lists (no BOS/EOS)."""
        c = self.config
        results = []
        for b in range(source.shape[0]):
            n = int(source_lengths[b])
            memory, src_pad = self.encode(source[b:b + 1, :n], source_lengths[b:b + 1])
            limit = min(int(math.floor(max_length_a * n + max_length_b)), c.max_target_length - 1)
            tokens = [c.bos_id]
            out = []
            while len(out) < limit:
                logits = self.decode(memory, src_pad, torch.tensor([tokens]))[0, -1].clone()
                logits[c.pad_id] = -math.inf
                if c.bos_id != c.eos_id:
                    logits[c.bos_id] = -math.inf
                token = int(torch.argmax(logits))
                if token == c.eos_id:
                    break
                out.append(token)
                tokens.append(token)
            results.append(out)
        return results


def save_checkpoint(directory, model):
    """DIR/model.safetensors (F32, the state_dict's names) + DIR/config.json (tfm's seq2seq config)."""
    os.makedirs(directory, exist_ok=True)
    tensors = {name: p.detach().to(torch.float32).cpu().numpy() for name, p in model.named_parameters()}
    # BatchNorm's running statistics travel with the weights (not its integer num_batches_tracked)
    tensors.update({name: b.detach().to(torch.float32).cpu().numpy() for name, b in model.named_buffers()
                    if name.endswith(("running_mean", "running_var"))})
    safetensors_io.save(os.path.join(directory, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(directory, "config.json"), "w") as f:
        f.write(model.config.to_json())
