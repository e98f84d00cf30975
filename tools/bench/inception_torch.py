#!/usr/bin/python3
"""pytorch-fid's FID Inception v3 in plain PyTorch, written from shared/fixtures/README.md ("Inception network").

torchvision `Inception3` (1008 classes, no aux head) with pytorch-fid's FID blocks: every `BasicConv2d` is conv (no
bias) -> BatchNorm (eps 0.001) -> ReLU; the pool branch of Mixed_5b/5c/5d, 6b-6e and 7b is a 3x3 stride-1 average
pool with padding 1 that does not count the padding, Mixed_7c's a 3x3 stride-1 max pool. Parameter names are
pytorch-fid's checkpoint keys, so the weights load from `fid_inception_v3.weights.safetensors` (read here with
json + numpy: no `safetensors` package). No torchvision.

The PyTorch-CPU baseline of tools/bench/inception.mjs and of the `inception` case of tools/bench/run.mjs: times a
forward of a batch of 299x299 images in [0, 1] (pytorch-fid's `normalize_input` 2x - 1 included, no resize needed)
to `pool3` [B, 2048], after one warm-up, in eval mode under torch.no_grad.

    /usr/bin/python3 tools/bench/inception_torch.py [--threads 2] [--batch 2] [--iters 3]
        [--weights FILE] [--input fixture|random] [--dump-pool3 FILE]

`--input fixture` (default when the fixture is there) takes the two photographs `x` of
`eval/inception_fid_299.io.safetensors` (tiled to --batch) and reports the max abs difference of our pool3 to the
fixture's; `--dump-pool3 FILE` writes pool3 as raw little-endian float32 [B, 2048] (for tools/bench/inception.mjs's
agreement check). Prints one JSON line: {"ms_per_image": ..., "images_per_s": ..., "times_ms": [...], ...}.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.environ.get("SVG_FIXTURES") or os.path.join(HERE, "..", "..", "..", "shared", "fixtures")


class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def avg_pool_exclude_pad(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):  # FIDInceptionA
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(avg_pool_exclude_pad(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):  # FIDInceptionC
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(avg_pool_exclude_pad(x))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):  # FIDInceptionE_1 (avg pool, Mixed_7b) / FIDInceptionE_2 (max pool, Mixed_7c)
    def __init__(self, cin, max_pool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        t = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(t), self.branch3x3_2b(t)], 1)
        u = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(u), self.branch3x3dbl_3b(u)], 1)
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else avg_pool_exclude_pad(x)
        return torch.cat([b1, b3, bd, self.branch_pool(pooled)], 1)


class FidInceptionV3(nn.Module):
    """x [B, 3, 299, 299] in [0, 1] -> pool3 [B, 2048] (pytorch-fid InceptionV3 with normalize_input, block 3)."""

    def __init__(self, num_classes=1008):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, num_classes)  # in the checkpoint; pytorch-fid's pool3 does not use it

    def forward(self, x):
        x = 2 * x - 1  # normalize_input (299x299 inputs need no resize)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        return F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)


SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path, names=None):
    """{name: numpy array} of a safetensors file (8-byte little-endian header length, JSON header, data)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        out = {}
        for name, e in header.items():
            if names is not None and name not in names:
                continue
            begin, end = e["data_offsets"]
            f.seek(8 + n + begin)
            out[name] = np.frombuffer(f.read(end - begin), dtype=SAFETENSORS_DTYPES[e["dtype"]]).reshape(e["shape"])
        return out


def load_weights(model, path):
    sd = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(path).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"state dict mismatch: missing {missing[:5]} ({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--weights", default=os.path.join(FIXTURES, "eval", "fid_inception_v3.weights.safetensors"))
    ap.add_argument("--input", choices=["fixture", "random"], default=None)
    ap.add_argument("--dump-pool3", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = FidInceptionV3().eval()
    weights = "random init (seed 0)"
    if os.path.exists(args.weights):
        load_weights(model, args.weights)
        weights = os.path.basename(args.weights)
    io_path = os.path.join(FIXTURES, "eval", "inception_fid_299.io.safetensors")
    source = args.input or ("fixture" if os.path.exists(io_path) else "random")
    want = None
    if source == "fixture":
        io = read_safetensors(io_path, {"x", "pool3"})
        reps = -(-args.batch // io["x"].shape[0])
        x = torch.from_numpy(np.tile(io["x"], (reps, 1, 1, 1))[: args.batch].copy())
        want = np.tile(io["pool3"], (reps, 1))[: args.batch]
    else:
        x = torch.rand(args.batch, 3, 299, 299)
    with torch.no_grad():
        pool3 = model(x)  # warm-up
        times = []
        for _ in range(args.iters):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    p = pool3.numpy().astype(np.float32)
    if args.dump_pool3:
        p.astype("<f4").tofile(args.dump_pool3)
    times_ms = [round(1000 * t, 2) for t in times]
    times.sort()
    ms = 1000 * times[len(times) // 2]
    result = {
        "impl": "pytorch", "torch": torch.__version__, "threads": args.threads, "batch": args.batch, "size": 299,
        "weights": weights, "input": source, "ms_per_batch": round(ms, 1), "ms_per_image": round(ms / args.batch, 1),
        "images_per_s": round(1000 * args.batch / ms, 3), "times_ms": times_ms,
    }
    if want is not None and weights != "random init (seed 0)":
        result["pool3_max_abs_vs_fixture"] = float(np.abs(p - want).max())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
