#!/usr/bin/python3
"""DINOv3 ViT in plain PyTorch, written from shared/spec/dinov3.md (not from the upstream code).

Used as the PyTorch-CPU baseline of tools/bench/dinov3.mjs and, imported, by
packages/dinov3/scripts/make_tiny_checkpoint.py. Parameter names are the official state-dict keys.

    /usr/bin/python3 tools/bench/dinov3_torch.py [--threads 2] [--size 256] [--depth 12] [--iters 5]
        [--device cpu|cuda] [--dtype fp32|bf16]   (torch_common.py: strict fp32 on cuda, bf16 = autocast)
prints one JSON line: {"ms_per_image": ..., ...}.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class LinearKMaskedBias(nn.Linear):
    """qkv projection whose effective bias is bias * bias_mask (mask 1 / 0 / 1 over q / k / v)."""

    def __init__(self, d_in, d_out, bias=True):
        super().__init__(d_in, d_out, bias=bias)
        if bias:
            mask = torch.ones(d_out)
            mask[d_out // 3 : 2 * d_out // 3] = 0
            self.register_buffer("bias_mask", mask)

    def forward(self, x):
        bias = self.bias * self.bias_mask.to(self.bias.dtype) if self.bias is not None else None
        return F.linear(x, self.weight, bias)


class LayerScale(nn.Module):
    def __init__(self, d, init=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((d,), init))

    def forward(self, x):
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class SwiGLU(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.w1 = nn.Linear(d, hidden)
        self.w2 = nn.Linear(d, hidden)
        self.w3 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.w3(F.silu(self.w1(x)) * self.w2(x))


def rope_tables(h, w, periods, dtype):
    """sin, cos [h*w, hd]: angles [y | x] per period, tiled twice (spec 2.3), coordinates 2(i+0.5)/n - 1."""
    ys = (torch.arange(h, dtype=dtype, device=periods.device) + 0.5) / h
    xs = (torch.arange(w, dtype=dtype, device=periods.device) + 0.5) / w
    coords = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).reshape(-1, 2)
    coords = 2 * coords - 1
    angles = 2 * math.pi * coords[:, :, None] / periods.to(dtype)[None, None, :]
    angles = angles.reshape(h * w, -1).tile(2)
    return torch.sin(angles), torch.cos(angles)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


class Attention(nn.Module):
    def __init__(self, d, heads, qkv_bias=True):
        super().__init__()
        self.heads = heads
        self.qkv = LinearKMaskedBias(d, 3 * d, bias=qkv_bias)
        self.proj = nn.Linear(d, d)

    def forward(self, x, sin, cos):
        b, t, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        n = sin.shape[0]
        p = t - n  # prefix tokens (cls + storage) stay unrotated

        def rope(z):
            return torch.cat([z[:, :, :p], z[:, :, p:] * cos + rotate_half(z[:, :, p:]) * sin], dim=2)

        q, k = rope(q), rope(k)
        att = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(hd), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d, heads, hidden, swiglu, qkv_bias):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, eps=1e-5)
        self.attn = Attention(d, heads, qkv_bias)
        self.ls1 = LayerScale(d)
        self.norm2 = nn.LayerNorm(d, eps=1e-5)
        self.mlp = SwiGLU(d, hidden) if swiglu else Mlp(d, hidden)
        self.ls2 = LayerScale(d)

    def forward(self, x, sin, cos):
        x = x + self.ls1(self.attn(self.norm1(x), sin, cos))
        return x + self.ls2(self.mlp(self.norm2(x)))


class RopeEmbed(nn.Module):
    def __init__(self, head_dim, base=100.0, bf16=True):
        super().__init__()
        periods = base ** (2 * torch.arange(head_dim // 4, dtype=torch.float32) / (head_dim // 2))
        self.register_buffer("periods", periods.bfloat16() if bf16 else periods)


class PatchEmbed(nn.Module):
    def __init__(self, patch, d, chans=3):
        super().__init__()
        self.proj = nn.Conv2d(chans, d, patch, stride=patch)


class DinoV3(nn.Module):
    """forward_features(x [B,3,H,W]) -> dict with x_norm_clstoken, x_storage_tokens, x_norm_patchtokens, x_prenorm."""

    def __init__(self, d=384, depth=12, heads=6, hidden=1536, swiglu=True, storage=4, patch=16, qkv_bias=True, bf16_periods=True):
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.storage_tokens = nn.Parameter(torch.randn(1, storage, d) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        self.patch_embed = PatchEmbed(patch, d)
        self.rope_embed = RopeEmbed(d // heads, bf16=bf16_periods)
        self.blocks = nn.ModuleList([Block(d, heads, hidden, swiglu, qkv_bias) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-5)
        self.storage = storage

    def forward_features(self, x):
        p = self.patch_embed.proj(x)
        b, d, h, w = p.shape
        tokens = p.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(b, -1, -1), self.storage_tokens.expand(b, -1, -1), tokens], dim=1)
        sin, cos = rope_tables(h, w, self.rope_embed.periods, x.dtype)
        for blk in self.blocks:
            x = blk(x, sin, cos)
        xn = self.norm(x)
        r = self.storage
        return {
            "x_norm_clstoken": xn[:, 0],
            "x_storage_tokens": xn[:, 1 : 1 + r],
            "x_norm_patchtokens": xn[:, 1 + r :],
            "x_prenorm": x,
        }


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_common

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=5)
    torch_common.add_args(ap)
    args = ap.parse_args()
    device = torch_common.setup(args)
    model = DinoV3(depth=args.depth).to(device).eval()  # ViT-S/16+ widths
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    times = torch_common.timed(lambda: model.forward_features(x), args.iters, args, device)
    times_ms = [round(1000 * t, 2) for t in times]
    times.sort()
    ms = 1000 * times[len(times) // 2] / args.batch
    print(json.dumps({"impl": "pytorch", **torch_common.info(args, device), "size": args.size, "depth": args.depth, "batch": args.batch, "ms_per_image": round(ms, 1), "times_ms": times_ms}))


if __name__ == "__main__":
    main()
