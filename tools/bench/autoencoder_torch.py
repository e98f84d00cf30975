#!/usr/bin/python3
"""SVG autoencoder in plain PyTorch, written from shared/spec/svg.md §1 (not from the upstream code).

PyTorch-CPU baseline of tools/bench/autoencoder.mjs: the encoder is the DINOv3 ViT-S/16+ of dinov3_torch.py plus
the residual ViT (torchvision layout, §1.4) and match_distribution (§1.6); the decoder is the LDM decoder (§1.9)
with the official config (ch 128, ch_mult 1,1,2,2,4, 2 ResNet blocks, attention at 16). Random weights, eval mode.

    /usr/bin/python3 tools/bench/autoencoder_torch.py [--threads 2] [--batch 1] [--iters 3] [--decode-only]
        [--device cpu|cuda] [--dtype fp32|bf16]   (torch_common.py: strict fp32 on cuda, bf16 = autocast)
prints one JSON line: {"encode_ms_per_image": ..., "decode_ms_per_image": ..., ...}. With --decode-only only the
decoder is built and timed, on a random latent [B, 392, 16, 16] (encode_ms_per_image is null).
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common  # noqa: E402
from dinov3_torch import DinoV3  # noqa: E402


class EncoderBlock(nn.Module):
    """Pre-norm block: packed-qkv multi-head attention (8 heads) and a GELU MLP, LayerNorm eps 1e-6."""

    def __init__(self, d=384, heads=8, hidden=1536):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d, eps=1e-6)
        self.in_proj = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=1e-6)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        b, t, d = x.shape
        hd = d // self.heads
        q, k, v = self.in_proj(self.ln_1(x)).reshape(b, t, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        att = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(hd), dim=-1)
        x = x + self.out_proj((att @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln_2(x))))


class ResidualViT(nn.Module):
    def __init__(self, d=384, layers=6, out=8, patch=16, tokens=256):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, d, patch, stride=patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embedding = nn.Parameter(torch.randn(1, tokens + 1, d) * 0.02)
        self.layers = nn.ModuleList([EncoderBlock(d) for _ in range(layers)])
        self.ln = nn.LayerNorm(d, eps=1e-6)
        self.head1 = nn.Linear(d, d)
        self.head2 = nn.Linear(d, out)

    def forward(self, x):
        p = self.conv_proj(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.class_token.expand(p.shape[0], -1, -1), p], dim=1) + self.pos_embedding
        for layer in self.layers:
            h = layer(h)
        h = self.ln(h)[:, 1:]
        return self.head2(F.gelu(self.head1(h))).transpose(1, 2)  # [B, 8, N]


def match_distribution(h, h_vit, eps=1e-6):
    mh, sh = h.mean(dim=(0, 2)).mean(), h.std(dim=(0, 2)).mean()
    mv, sv = h_vit.mean(dim=(0, 2)).mean(), h_vit.std(dim=(0, 2)).mean()
    return (h_vit - mv) / (sv + eps) * sh + mh


def norm(c):
    return nn.GroupNorm(32, c, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = norm(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        hn = self.norm(x)
        q = self.q(hn).reshape(b, c, h * w).transpose(1, 2)
        k = self.k(hn).reshape(b, c, h * w)
        v = self.v(hn).reshape(b, c, h * w)
        att = torch.softmax((q @ k) / math.sqrt(c), dim=-1)  # [B, i, j]
        o = (v @ att.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.proj_out(o)


class Decoder(nn.Module):
    def __init__(self, z=392, ch=128, ch_mult=(1, 1, 2, 2, 4), blocks=2, attn_res=(16,), resolution=256, out=3):
        super().__init__()
        levels = len(ch_mult)
        c = ch * ch_mult[-1]
        res = resolution // 2 ** (levels - 1)
        self.conv_in = nn.Conv2d(z, c, 3, padding=1)
        self.mid = nn.ModuleList([ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c)])
        self.up = []
        for level in reversed(range(levels)):
            co = ch * ch_mult[level]
            stage = []
            for _ in range(blocks + 1):
                stage.append(ResnetBlock(c, co))
                c = co
                if res in attn_res:
                    stage.append(AttnBlock(c))
            upsample = nn.Conv2d(c, c, 3, padding=1) if level != 0 else None
            if level != 0:
                res *= 2
            self.up.append((nn.ModuleList(stage), upsample))
        self.stages = nn.ModuleList([s for s, _ in self.up])
        self.upsamples = nn.ModuleList([u for _, u in self.up if u is not None])
        self.norm_out = norm(c)
        self.conv_out = nn.Conv2d(c, out, 3, padding=1)

    def forward(self, z):
        h = self.conv_in(z)
        for m in self.mid:
            h = m(h)
        for stage, upsample in self.up:
            for m in stage:
                h = m(h)
            if upsample is not None:
                h = upsample(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--decode-only", action="store_true", help="time the decoder alone on a random latent")
    torch_common.add_args(ap)
    args = ap.parse_args()
    device = torch_common.setup(args)
    meta = {"impl": "pytorch", **torch_common.info(args, device), "batch": args.batch}
    if args.decode_only:
        decoder = Decoder().to(device).eval()
        z = torch.randn(args.batch, 392, 16, 16, device=device)
        times_ms = [round(1000 * s, 2) for s in torch_common.timed(lambda: decoder(z), args.iters, args, device)]
        dec = sorted(times_ms)[len(times_ms) // 2] / args.batch
        print(json.dumps({**meta, "encode_ms_per_image": None, "decode_ms_per_image": round(dec, 1), "decode_times_ms": times_ms}))
        return
    dino, vit, decoder = (m.to(device).eval() for m in (DinoV3(), ResidualViT(), Decoder()))
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    def encode(x):
        x_in = ((x + 1) / 2 - mean) / std
        h = dino.forward_features(x_in)["x_norm_patchtokens"].transpose(1, 2)
        z = torch.cat([h, match_distribution(h, vit(x_in))], dim=1)
        return z.reshape(x.shape[0], 392, 16, 16)

    def median_ms(f, x):
        times = sorted(torch_common.timed(lambda: f(x), args.iters, args, device))
        return 1000 * times[len(times) // 2] / args.batch

    images = torch.rand(args.batch, 3, 256, 256, device=device) * 2 - 1
    enc = median_ms(encode, images)
    with torch.no_grad():
        latent = encode(images)
    dec = median_ms(decoder, latent)
    print(json.dumps({**meta, "encode_ms_per_image": round(enc, 1), "decode_ms_per_image": round(dec, 1)}))


if __name__ == "__main__":
    main()
