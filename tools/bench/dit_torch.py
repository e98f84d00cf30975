#!/usr/bin/python3
"""PyTorch reference timing for tools/bench/run.mjs and dit.mjs: the SVG DiT forward written from
/work/shared/spec/svg.md section 3 (not from upstream code), eval mode, no_grad.

Usage: /usr/bin/python3 tools/bench/dit_torch.py --model S --batch 2 --tokens 256 --threads 2 --runs 3 [--cfg 4]
       [--device cpu|cuda] [--dtype fp32|bf16]   (torch_common.py: strict fp32 on cuda, bf16 = autocast)
With --cfg S (> 0) each timed run is one Euler step with classifier-free guidance, as @svg/flow's sample does it:
two forwards of the batch (class labels, then the null label 1000), v = v_u + S(v_c - v_u), z + dt v.
Prints one JSON line: {"model", "batch", "tokens", "threads", "torch", "device", "dtype", "cfg", "seconds": [...],
"median_s"}.
"""
import argparse
import json
import math
import os
import statistics
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common  # noqa: E402

PRESETS = {"S": (384, 12, 6), "B": (768, 12, 12), "L": (1024, 24, 16), "XL": (1152, 28, 16)}


class Attention(nn.Module):
    def __init__(self, dim, heads, qk_norm=True):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.LayerNorm(self.hd) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.hd) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.hd), dim=-1) @ v
        return self.proj(a.transpose(1, 2).reshape(b, t, d))


def modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.ada = nn.Linear(dim, 6 * dim)

    def forward(self, h, c):
        sm, cm, gm, sf, cf, gf = self.ada(F.silu(c)).chunk(6, dim=1)
        h = h + gm[:, None] * self.attn(modulate(self.norm1(h), sm, cm))
        m = self.fc2(F.gelu(self.fc1(modulate(self.norm2(h), sf, cf)), approximate="tanh"))
        return h + gf[:, None] * m


class DiT(nn.Module):
    def __init__(self, dim, depth, heads, in_ch=392, classes=1000):
        super().__init__()
        self.ln1 = nn.Linear(in_ch, dim)
        self.register_buffer("pos_embed", torch.randn(1, 256, dim))  # values do not matter for timing
        self.t1, self.t2 = nn.Linear(256, dim), nn.Linear(dim, dim)
        self.table = nn.Embedding(classes + 1, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.final_ada = nn.Linear(dim, 2 * dim)
        self.final_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.final = nn.Linear(dim, 2 * in_ch)

    def forward(self, x, t, y):
        freqs = torch.exp(-math.log(10000) * torch.arange(128, dtype=torch.float32, device=t.device) / 128)
        args = t[:, None] * freqs[None]
        c = self.t2(F.silu(self.t1(torch.cat([torch.cos(args), torch.sin(args)], -1)))) + self.table(y)
        h = self.ln1(x) + self.pos_embed
        for b in self.blocks:
            h = b(h, c)
        shift, scale = self.final_ada(F.silu(c)).chunk(2, dim=1)
        return self.final(modulate(self.final_norm(h), shift, scale))


def guided_step(model, x, t, y, y_null, cfg, dt=0.25):
    """One Euler step with classifier-free guidance, as @svg/flow's sample takes it: two forwards of the batch."""
    vc = model(x, t, y)[..., :392]
    vu = model(x, t, y_null)[..., :392]
    return x + dt * (vu + cfg * (vc - vu))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="S", choices=PRESETS)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--cfg", type=float, default=0, help="> 0: time one guided Euler step (2 forwards) instead of a forward")
    torch_common.add_args(p)
    a = p.parse_args()
    device = torch_common.setup(a)
    model = DiT(*PRESETS[a.model]).to(device).eval()
    x = torch.randn(a.batch, a.tokens, 392, device=device)
    t = torch.rand(a.batch, device=device)
    y = torch.randint(0, 1001, (a.batch,), device=device)
    y_null = torch.full((a.batch,), 1000, device=device)

    def step():
        return model(x, t, y) if a.cfg <= 0 else guided_step(model, x, t, y, y_null, a.cfg)

    seconds = torch_common.timed(step, a.runs, a, device)
    print(json.dumps({"model": a.model, "batch": a.batch, "tokens": a.tokens, **torch_common.info(a, device),
                      "cfg": a.cfg, "seconds": seconds, "median_s": statistics.median(seconds)}))


if __name__ == "__main__":
    main()
