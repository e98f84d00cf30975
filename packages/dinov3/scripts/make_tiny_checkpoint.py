#!/usr/bin/python3
"""Writes test-data/tiny_vit.pth (a small custom DINOv3 ViT state dict with official key names, torch zip format,
periods stored as bfloat16 like the released checkpoints) and test-data/tiny_vit_expected.pt (an input and the
forward_features outputs computed in float64 by tools/bench/dinov3_torch.py, a model written from the spec).

    /usr/bin/python3 packages/dinov3/scripts/make_tiny_checkpoint.py
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools", "bench"))
from dinov3_torch import DinoV3  # noqa: E402

torch.manual_seed(1234)
model = DinoV3(d=32, depth=2, heads=2, hidden=64, swiglu=True, storage=4, patch=8)
with torch.no_grad():
    for name, p in model.named_parameters():
        # Large enough that every part (LayerScale, biases incl. the masked k bias, tokens) changes the output.
        p.copy_(torch.randn_like(p) * (0.5 if p.ndim == 1 else 0.2) + (1.0 if name.endswith(("gamma", "norm1.weight", "norm2.weight", "norm.weight")) else 0.0))
sd = model.state_dict()
assert sd["rope_embed.periods"].dtype == torch.bfloat16
torch.save(sd, os.path.join(HERE, "..", "test-data", "tiny_vit.pth"))

x = torch.randn(2, 3, 27, 43)  # not multiples of 8: the conv drops the last rows/columns -> 3x5 grid
ref = model.double()
with torch.no_grad():
    out = ref.forward_features(x.double())
expected = {"x": x}
expected.update({k: v.float() for k, v in out.items()})
torch.save(expected, os.path.join(HERE, "..", "test-data", "tiny_vit_expected.pt"))
print({k: tuple(v.shape) for k, v in expected.items()}, sd["rope_embed.periods"])
