#!/usr/bin/python3
"""PyTorch reference timing of one DiT training step for tools/bench/train.mjs: the model of dit_torch.py (written
from /work/shared/spec/svg.md, not from upstream code) in training mode, the rectified-flow loss (spec section 4.3:
x_t = t x1 + (1 - t) x0, velocity target x1 - x0, mean squared error), backward, AdamW — float32, as our trainer.

Usage: /usr/bin/python3 tools/bench/train_torch.py --model S --batch 8 --channels 8 --classes 10 --threads 2 --runs 5
Prints one JSON line: {"model", "batch", "channels", "classes", "threads", "torch", "device", "dtype",
"seconds": [...], "median_s"}.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common  # noqa: E402
from dit_torch import PRESETS, DiT  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="S", choices=PRESETS)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--channels", type=int, default=8, help="latent channels (8: our Fashion-MNIST preset; 392: SVG)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--runs", type=int, default=5)
    torch_common.add_args(p)
    a = p.parse_args()
    device = torch_common.setup(a)
    model = DiT(*PRESETS[a.model], in_ch=a.channels, classes=a.classes).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step():
        x1 = torch.randn(a.batch, 256, a.channels, device=device)
        x0 = torch.randn_like(x1)
        t = torch.rand(a.batch, device=device)
        y = torch.randint(0, a.classes, (a.batch,), device=device)
        xt = t[:, None, None] * x1 + (1 - t[:, None, None]) * x0
        with torch_common.precision(a, device):
            v = model(xt, t, y)[..., : a.channels]
            loss = F.mse_loss(v.float(), x1 - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()

    for _ in range(2):
        step()
    seconds = []
    for _ in range(a.runs):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"model": a.model, "batch": a.batch, "channels": a.channels, "classes": a.classes, **torch_common.info(a, device),
                      "seconds": seconds, "median_s": statistics.median(seconds)}))


if __name__ == "__main__":
    main()
