"""What the *_torch.py timing scripts share: the --threads / --device / --dtype flags and a timer that waits for
the GPU before it stops the clock (our side times `await out.data()`, which includes the read-back).

--device cuda runs strict float32, as WebGPU computes: TF32 is off for matmuls and convolutions. --dtype bf16 runs
the same model under torch.autocast(bfloat16), as mixed-precision users do (matmuls and convs in bf16).
"""
import contextlib
import time

import torch


def add_args(parser, threads=2):
    parser.add_argument("--threads", type=int, default=threads)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="bf16: torch.autocast(bfloat16)")


def setup(args):
    """Seeds, threads and precision flags; returns the torch.device."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    return device


def precision(args, device):
    if args.dtype == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def timed(fn, iters, args, device, warmup=None):
    """Seconds of each of `iters` calls of fn() after the warm-ups (1 on cpu, 2 on cuda: cuDNN picks its
    algorithms in the first), each measured until the device has finished."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    warmup = (2 if device.type == "cuda" else 1) if warmup is None else warmup
    seconds = []
    with torch.no_grad(), precision(args, device):
        for _ in range(warmup):
            fn()
            sync()
        for _ in range(iters):
            start = time.perf_counter()
            fn()
            sync()
            seconds.append(time.perf_counter() - start)
    return seconds


def info(args, device):
    """The fields every script prints beside its timings."""
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": device.type, "dtype": args.dtype}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    return out
