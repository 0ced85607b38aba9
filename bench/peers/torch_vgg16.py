#!/usr/bin/env python3
"""Same-GPU baseline for the engine's VGG-16 training step: torchvision's VGG-16 (configuration D,
138,357,544 parameters, dropout in the classifier as in the paper), one training step = forward,
cross-entropy, backward and an SGD update (momentum 0.9, weight decay 5e-4), on random 224x224
images, timed per batch size and arithmetic mode, as JSON (stdout, or --json FILE).

    python3 bench/peers/torch_vgg16.py [--batch 64,128] [--size 224] [--steps 10] [--json FILE]

On CUDA: fp32 with TF32 off (the same arithmetic as the engine's fp32 kernels) and with TF32 on
(PyTorch's default for convolutions), cudnn.benchmark on, channels-last tensors. Without a GPU it
runs on the CPU (fp32 only, a small batch unless --batch is given). Without PyTorch it prints
{"skipped": ...} and exits 0, so the GPU kit can run it anywhere.
"""
import argparse
import json
import platform
import statistics
import sys
import time


def emit(result, path):
    """The JSON to stdout, or to `path` when given."""
    text = json.dumps(result, indent=2)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", help="comma-separated batch sizes (default 64,128 on a GPU, 2 on the CPU)")
    ap.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per case (default 10; 2 on the CPU)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (cudnn.benchmark picks its kernels there)")
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    ap.add_argument("--budget", type=float, default=150, help="seconds; cases not started by then are skipped")
    ap.add_argument("--json", help="write the JSON to this file instead of stdout")
    args = ap.parse_args()
    started = time.perf_counter()
    try:
        import torch
        import torch.nn.functional as F
        import torchvision
    except ImportError as e:
        emit({"skipped": f"PyTorch or torchvision is not installed here ({e}); on Debian: apt-get install python3-torch python3-torchvision"}, args.json)
        return 0

    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not cuda:
        print("torch_vgg16: --device cuda, but PyTorch sees no CUDA GPU", file=sys.stderr)
        return 2
    device = torch.device("cuda" if cuda else "cpu")
    batches = [int(b) for b in (args.batch or ("64,128" if cuda else "2")).split(",")]
    steps = args.steps if cuda or args.steps != 10 else 2
    modes = [("fp32", False), ("tf32", True)] if cuda else [("fp32", False)]
    torch.backends.cudnn.benchmark = True
    result = {
        "peer": "torchvision vgg16",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "size": args.size,
        "optimizer": "SGD momentum 0.9, weight decay 5e-4",
        "memoryFormat": "channels_last",
        "cases": [],
    }
    for batch in batches:
        for mode, tf32 in modes:
            case = {"batch": batch, "mode": mode}
            result["cases"].append(case)
            if time.perf_counter() - started > args.budget:
                case["skipped"] = f"past the {args.budget:.0f} s budget"
                continue
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            torch.manual_seed(0)
            try:
                model = torchvision.models.vgg16(weights=None, num_classes=1000).to(device, memory_format=torch.channels_last)
                model.train()
                opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
                x = torch.randn(batch, 3, args.size, args.size, device=device).contiguous(memory_format=torch.channels_last)
                y = torch.randint(0, 1000, (batch,), device=device)

                def step():
                    opt.zero_grad(set_to_none=True)
                    loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    opt.step()
                    return loss

                sync = torch.cuda.synchronize if cuda else (lambda: None)
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                for _ in range(args.warmup if cuda else 1):
                    step()
                sync()
                times = []
                for _ in range(steps):
                    t0 = time.perf_counter()
                    loss = step()
                    sync()
                    times.append(time.perf_counter() - t0)
                ms = statistics.median(times) * 1000
                case.update(ms=ms, imagesPerSec=batch * 1000 / ms, loss=float(loss), steps=len(times))
                if cuda:
                    case["peakMemoryGiB"] = torch.cuda.max_memory_allocated() / 2**30
            except RuntimeError as e:  # out of memory, most often
                case["error"] = str(e).split("\n")[0]
            finally:
                model = opt = x = y = None
                if cuda:
                    torch.cuda.empty_cache()
            print(f"torch_vgg16: batch {batch} {mode}: " + (f"{case['imagesPerSec']:.1f} img/s ({case['ms']:.1f} ms/step)" if "ms" in case else case.get("error", "")), file=sys.stderr)
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
