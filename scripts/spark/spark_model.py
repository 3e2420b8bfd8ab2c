"""PyTorch reference of the Spark Transformer (arXiv 2506.06644) on a Gemma 3 base,
written from the equations in docs/spark-checkpoint.md (no code is published).

One module serves three purposes: it defines what the Swift engine must compute
(scripts/fixtures/spark_tiny.py records its outputs), it trains the tiny Spark model
and its dense twin (scripts/spark/train_tiny.py), and it reads/writes the Hugging Face
folder format (config.json + model.safetensors). With `spark=False` the same class is
a plain Gemma 3 text model that writes `model_type: gemma3_text`.
"""
import json
import math
import os
from dataclasses import dataclass, field, asdict
from statistics import NormalDist

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class SparkConfig:
    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 96
    num_hidden_layers: int = 3
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    head_dim: int = 32
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    rope_local_base_freq: float = 10_000.0
    sliding_window: int = 512
    layer_types: list = field(default_factory=list)
    query_pre_attn_scalar: float = 32.0
    spark: bool = True
    spark_ffn_rank: int = 16
    spark_ffn_fraction: float = 0.08
    spark_attn_rank: int = 8
    spark_attn_topk: int = 256

    def __post_init__(self):
        if not self.layer_types:
            self.layer_types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention"
                                for i in range(self.num_hidden_layers)]
        if self.spark:
            assert 0 < self.spark_ffn_rank < self.hidden_size
            assert 0 < self.spark_attn_rank < self.head_dim
            assert self.spark_attn_rank % 2 == 0 and (self.head_dim - self.spark_attn_rank) % 2 == 0
            assert 0 < self.spark_ffn_fraction < 1 and self.spark_attn_topk > 0

    def to_hf(self):
        d = {k: v for k, v in asdict(self).items() if k != "spark"}
        if float(d["query_pre_attn_scalar"]).is_integer():   # transformers 5 requires an int
            d["query_pre_attn_scalar"] = int(d["query_pre_attn_scalar"])
        if not self.spark:
            for k in list(d):
                if k.startswith("spark_"):
                    del d[k]
        d.update({
            "model_type": "spark_gemma" if self.spark else "gemma3_text",
            "architectures": ["SparkGemmaForCausalLM" if self.spark else "Gemma3ForCausalLM"],
            "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": True,
            "final_logit_softcapping": None, "attn_logit_softcapping": None,
            "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, "torch_dtype": "float32",
        })
        return d

    @staticmethod
    def from_hf(d):
        fields = set(SparkConfig.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in fields}
        kw["spark"] = d.get("model_type") == "spark_gemma"
        return SparkConfig(**kw)


def stat_topk(z, fraction):
    """Statistical top-k: max(z − θ, 0), θ = mean + std·Φ⁻¹(1 − fraction), population std."""
    zq = NormalDist().inv_cdf(1 - fraction)
    mean = z.mean(-1, keepdim=True)
    std = z.var(-1, keepdim=True, unbiased=False).sqrt()
    return torch.relu(z - (mean + std * zq))


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


class RMSNorm(nn.Module):
    """Gemma RMSNorm: x / sqrt(mean(x²) + eps) · (1 + w); w stored without the 1."""

    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (1 + self.weight)


def rope(x, positions, base):
    """'Rotate half' RoPE over the whole last dim of x: [..., T, w]."""
    w = x.shape[-1]
    half = w // 2
    inv = 1.0 / (base ** (torch.arange(0, half, dtype=torch.float64) * 2 / w))
    ang = (positions.to(torch.float64)[:, None] * inv[None, :]).to(x.dtype)
    c, s = ang.cos(), ang.sin()
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * c - b * s, b * c + a * s], -1)


class Attention(nn.Module):
    def __init__(self, cfg: SparkConfig, local: bool):
        super().__init__()
        self.cfg, self.local = cfg, local
        H, KV, hd, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.hidden_size
        self.q_proj = nn.Linear(d, H * hd, bias=False)
        self.k_proj = nn.Linear(d, KV * hd, bias=False)
        self.v_proj = nn.Linear(d, KV * hd, bias=False)
        self.o_proj = nn.Linear(H * hd, d, bias=False)
        self.q_norm = RMSNorm(hd, cfg.rms_norm_eps)
        self.k_norm = RMSNorm(hd, cfg.rms_norm_eps)

    def forward(self, x, positions, stats=None):
        cfg = self.cfg
        B, T, _ = x.shape
        H, KV, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        q = self.q_norm(self.q_proj(x).view(B, T, H, hd)).transpose(1, 2)      # B,H,T,hd
        k = self.k_norm(self.k_proj(x).view(B, T, KV, hd)).transpose(1, 2)
        v = self.v_proj(x).view(B, T, KV, hd).transpose(1, 2)
        k = k.repeat_interleave(H // KV, 1)
        v = v.repeat_interleave(H // KV, 1)
        base = cfg.rope_local_base_freq if self.local else cfg.rope_theta
        c = cfg.query_pre_attn_scalar ** -0.5
        i = positions[:, None]
        j = positions[None, :]
        visible = j <= i
        if self.local:
            visible = visible & (j > i - cfg.sliding_window)
        if not cfg.spark:
            q, k = rope(q, positions, base), rope(k, positions, base)
            s = (q @ k.transpose(-1, -2)) * c
            w = torch.softmax(s.masked_fill(~visible, float("-inf")), -1)
            out = w @ v
            if stats is not None:
                stats.append(visible.sum(-1).expand(B, H, T))
        else:
            r = cfg.spark_attn_rank
            # RoPE inside each part so both partial dot products are relative-position only.
            q1, q2 = rope(q[..., :r], positions, base), rope(q[..., r:], positions, base)
            k1, k2 = rope(k[..., :r], positions, base), rope(k[..., r:], positions, base)
            s1 = (q1 @ k1.transpose(-1, -2)) * c
            s2 = (q2 @ k2.transpose(-1, -2)) * c
            s1 = s1.masked_fill(~visible, float("-inf"))
            kk = min(cfg.spark_attn_topk, T)
            top = s1.topk(kk, dim=-1).indices
            selected = torch.zeros_like(s1, dtype=torch.bool).scatter(-1, top, True) & visible
            w = torch.softmax(s1.masked_fill(~selected, float("-inf")), -1) * F.softplus(s2)
            out = w @ v
            if stats is not None:
                stats.append(selected.sum(-1))
        return self.o_proj(out.transpose(1, 2).reshape(B, T, H * hd))


class FeedForward(nn.Module):
    def __init__(self, cfg: SparkConfig):
        super().__init__()
        self.cfg = cfg
        d, n = cfg.hidden_size, cfg.intermediate_size
        r = cfg.spark_ffn_rank if cfg.spark else d
        self.gate_proj = nn.Linear(r, n, bias=False)                       # K1ᵀ (Spark) / gate
        self.up_proj = nn.Linear(d - r if cfg.spark else d, n, bias=False)  # K2ᵀ (Spark) / up
        self.down_proj = nn.Linear(n, d, bias=False)                       # V

    def forward(self, x, stats=None):
        cfg = self.cfg
        if not cfg.spark:
            h = gelu_tanh(self.gate_proj(x)) * self.up_proj(x)
            if stats is not None:
                stats.append(torch.full(x.shape[:-1], cfg.intermediate_size))
            return self.down_proj(h)
        r = cfg.spark_ffn_rank
        a = stat_topk(self.gate_proj(x[..., :r]), cfg.spark_ffn_fraction)
        if stats is not None:
            stats.append((a > 0).sum(-1))
        return self.down_proj(gelu_tanh(a) * self.up_proj(x[..., r:]))


class Block(nn.Module):
    def __init__(self, cfg, local):
        super().__init__()
        e = cfg.rms_norm_eps
        self.input_layernorm = RMSNorm(cfg.hidden_size, e)
        self.self_attn = Attention(cfg, local)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, e)
        self.pre_feedforward_layernorm = RMSNorm(cfg.hidden_size, e)
        self.mlp = FeedForward(cfg)
        self.post_feedforward_layernorm = RMSNorm(cfg.hidden_size, e)

    def forward(self, x, positions, attn_stats=None, ffn_stats=None):
        x = x + self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), positions, attn_stats))
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x), ffn_stats))


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg, t == "sliding_attention") for t in cfg.layer_types)
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class SparkLM(nn.Module):
    """Causal LM; `forward(ids)` returns logits [B, T, vocab] (tied head)."""

    def __init__(self, cfg: SparkConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Inner(cfg)

    @classmethod
    def initialized(cls, cfg: SparkConfig, seed=0):
        """A fresh model with the scripts' initialisation: embeddings N(0, 0.02), every
        other matrix N(0, 1/fan_in), from torch.manual_seed(seed)."""
        torch.manual_seed(seed)
        m = cls(cfg)
        with torch.no_grad():
            for pn, p in m.named_parameters():
                if p.dim() == 2:
                    p.normal_(0, 0.02 if pn.endswith("embed_tokens.weight") else 1 / math.sqrt(p.shape[1]))
        return m

    def forward(self, ids, stats=None):
        """stats: optional dict filled with per-layer lists of [B, T] (FFN active) and
        [B, H, T] (attended keys) tensors."""
        cfg = self.cfg
        positions = torch.arange(ids.shape[1])
        x = self.model.embed_tokens(ids) * torch.tensor(math.sqrt(cfg.hidden_size), dtype=self.model.embed_tokens.weight.dtype)
        attn, ffn = ([], []) if stats is not None else (None, None)
        for blk in self.model.layers:
            x = blk(x, positions, attn, ffn)
        if stats is not None:
            stats["attended"], stats["ffn_active"] = attn, ffn
        return self.model.norm(x) @ self.model.embed_tokens.weight.T

    # ---- Hugging Face folder I/O ----
    def save(self, folder, dtype=torch.float32):
        from safetensors.torch import save_file
        os.makedirs(folder, exist_ok=True)
        hf = self.cfg.to_hf()
        hf["torch_dtype"] = str(dtype).replace("torch.", "")
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(hf, f, indent=1)
        tensors = {k: v.detach().to(dtype).contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})

    @staticmethod
    def load(folder, dtype=torch.float32):
        from safetensors.torch import load_file
        cfg = SparkConfig.from_hf(json.load(open(os.path.join(folder, "config.json"))))
        m = SparkLM(cfg)
        m.load_state_dict(load_file(os.path.join(folder, "model.safetensors")))
        return m.to(dtype).eval()


def flops_per_token(cfg: SparkConfig, context: int, ffn_active: float, attended: float):
    """(as computed, dense equivalent) FLOPs for one token, as the engine counts them."""
    d, n, H, KV, hd = cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    proj = 2 * (2 * d * H * hd + 2 * d * KV * hd)
    head = 2 * cfg.vocab_size * d
    if not cfg.spark:
        per = proj + 6 * d * n + 4 * H * hd * context
        return cfg.num_hidden_layers * per + head, cfg.num_hidden_layers * per + head
    r, ra = cfg.spark_ffn_rank, cfg.spark_attn_rank
    ffn = 2 * r * n + 2 * (d - r) * ffn_active + 2 * d * ffn_active
    att = H * (2 * ra * context + 2 * (hd - ra) * attended + 2 * hd * attended)
    dense = proj + 4 * d * n + 4 * H * hd * context
    L = cfg.num_hidden_layers
    return L * (proj + ffn + att) + head, L * dense + head
