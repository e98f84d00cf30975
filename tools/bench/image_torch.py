#!/usr/bin/python3
"""PyTorch reference of run.mjs' `xl-image` case: one whole image, as a user gets it. A --steps-step Euler sample
with classifier-free guidance (DiT of dit_torch.py, two forwards per step) from noise [B, 256, 392], then the SVG
decoder of autoencoder_torch.py → [B, 3, 256, 256]. Random weights, eval mode, no_grad.

    /usr/bin/python3 tools/bench/image_torch.py [--model XL] [--steps 25] [--cfg 4] [--batch 1] [--runs 1]
        [--threads 2] [--device cpu|cuda] [--dtype fp32|bf16]
The warm-up is one image of one step (it runs every kernel the timed images run). Prints one JSON line:
{"model", "steps", "cfg", "batch", "torch", "device", "dtype", "seconds": [...], "median_s"}.
"""
import argparse
import json
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common  # noqa: E402
from autoencoder_torch import Decoder  # noqa: E402
from dit_torch import PRESETS, DiT, guided_step  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="XL", choices=PRESETS)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--cfg", type=float, default=4)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--runs", type=int, default=1)
    torch_common.add_args(p)
    a = p.parse_args()
    device = torch_common.setup(a)
    dit = DiT(*PRESETS[a.model]).to(device).eval()
    decoder = Decoder().to(device).eval()
    noise = torch.randn(a.batch, 256, 392, device=device)
    y = torch.randint(0, 1000, (a.batch,), device=device)
    y_null = torch.full((a.batch,), 1000, device=device)

    def image(steps):
        z = noise
        for i in range(steps):
            t = torch.full((a.batch,), i / steps, device=device)
            z = guided_step(dit, z, t, y, y_null, a.cfg, dt=1 / steps)
        return decoder(z.transpose(1, 2).reshape(a.batch, 392, 16, 16))

    torch_common.timed(lambda: image(1), 0, a, device)  # warm-up: every kernel once
    seconds = torch_common.timed(lambda: image(a.steps), a.runs, a, device, warmup=0)
    print(json.dumps({"model": a.model, "steps": a.steps, "cfg": a.cfg, "batch": a.batch, **torch_common.info(a, device),
                      "seconds": seconds, "median_s": statistics.median(seconds)}))


if __name__ == "__main__":
    main()
