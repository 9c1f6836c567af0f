#!/usr/bin/python3
"""make bench-trainer: training images/s of stqn-train against an equivalent PyTorch training step.

Both sides train the reference network (docs/reference-net.md) on Fashion-MNIST batches with the
reference augmentation (random shift in [-2, 2]^2 with zero fill, horizontal flip), cross-entropy,
Adam and the latent clamp, for the fp32 and the STTN (ternary weights and activations, int8 stem
and head) variants. The PyTorch side is the same network written the ordinary way in Python
(autograd Functions made of torch ops), run with Debian's python3-torch (/usr/bin/python3).
Every measurement is a fresh process; the two sides alternate so that they share the machine's
conditions. Prints a table and writes JSON with the ratios.

Usage: bench_trainer.py --stqn-train PATH --json OUT [--threads 1,2] [--steps N] [--warmup N]
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

DATA_DIR = "/usr/share/datasets/fashion-mnist"
VARIANTS = {"fp32": ("fp32", "relu"), "sttn": ("sttn", "ternary")}
# stqn-train sets this itself (sw/tools/stqn_train.cpp); the PyTorch side gets the same.
OMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def idx_read(path, magic, dims):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    head = struct.unpack(">" + "I" * (1 + dims), data[: 4 * (1 + dims)])
    if head[0] != magic:
        sys.exit(f"{path}: magic: expected 0x{magic:08x}, found 0x{head[0]:08x}")
    return head[1:], data[4 * (1 + dims):]


def load_train(data_dir):
    def find(stem):
        for name in (stem, stem + ".gz"):
            if os.path.exists(os.path.join(data_dir, name)):
                return os.path.join(data_dir, name)
        sys.exit(f"{data_dir}: {stem}: not found")
    (n, h, w), pixels = idx_read(find("train-images-idx3-ubyte"), 0x803, 3)
    (m,), labels = idx_read(find("train-labels-idx1-ubyte"), 0x801, 1)
    if n != m or len(pixels) != n * h * w or len(labels) != n:
        sys.exit(f"{data_dir}: train images/labels: counts or sizes do not match")
    return pixels, labels, n, h, w


def torch_step_bench(variant, threads, steps, warmup, batch, data_dir):
    """The PyTorch training step; returns images/s. Runs in its own process."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    quantized = variant == "sttn"

    def sign(w):
        return torch.where(w >= 0, 1.0, -1.0)

    class Soft(torch.autograd.Function):  # STTN: alpha * (sign W1 + sign W2), exact gradient
        @staticmethod
        def forward(ctx, w):
            m, n = w.shape[0], w[0, 0].numel()
            b = sign(w)
            bsum = b.sum(0)
            alpha = w.abs().sum(dim=(0, 2, 3, 4)) / (m * n)
            ctx.save_for_backward(w, b, bsum, alpha)
            return bsum * alpha.view(-1, 1, 1, 1)

        @staticmethod
        def backward(ctx, g):
            w, b, bsum, alpha = ctx.saved_tensors
            m, n = w.shape[0], w[0, 0].numel()
            dalpha = (g * bsum).sum(dim=(1, 2, 3))
            inside = (w.abs() <= 1).to(w.dtype)
            return (g.unsqueeze(0) * alpha.view(1, -1, 1, 1, 1) * inside
                    + b * dalpha.view(1, -1, 1, 1, 1) / (m * n))

    class Ternary(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u):
            ctx.save_for_backward(u)
            return (u >= -0.5).to(u.dtype) + (u > 0.5).to(u.dtype) - 1

        @staticmethod
        def backward(ctx, g):
            (u,) = ctx.saved_tensors
            return g * (u.abs() <= 1).to(u.dtype)

    class Int8(torch.autograd.Function):  # symmetric int8, identity STE
        @staticmethod
        def forward(ctx, w, per_channel):
            if per_channel:
                s = (w.abs().amax(dim=(1, 2, 3)) / 127).clamp_min(1e-6).view(-1, 1, 1, 1)
            else:
                s = (w.abs().max() / 127).clamp_min(1e-6)
            return (w / s).round().clamp(-127, 127) * s

        @staticmethod
        def backward(ctx, g):
            return g, None

    class Bias(torch.autograd.Function):
        @staticmethod
        def forward(ctx, b, scale):
            return (b / scale).round() * scale

        @staticmethod
        def backward(ctx, g):
            return g, None

    channels = [1, 32, 32, 64, 64, 128]
    pool_before = [False, False, True, False, True]
    weights, bns = [], []
    for j in range(5):
        cin, cout = channels[j], channels[j + 1]
        if quantized and j > 0:
            w = (torch.randn(2, cout, cin, 3, 3) * (1.0 / (9 * cin)) ** 0.5).clamp(-1, 1)
        else:
            w = torch.randn(cout, cin, 3, 3) * (2.0 / (9 * cin)) ** 0.5
        weights.append(w.requires_grad_())
        bns.append(torch.nn.BatchNorm2d(cout))
    bound = 1 / 128 ** 0.5
    fc_w = (torch.rand(10, 128) * 2 * bound - bound).requires_grad_()
    fc_b = torch.zeros(10, requires_grad=True)
    params = weights + [p for bn in bns for p in bn.parameters()] + [fc_w, fc_b]
    opt = torch.optim.Adam(params, lr=1e-3)

    def conv_weight(j):
        if not quantized:
            return weights[j]
        return Int8.apply(weights[j], True) if j == 0 else Soft.apply(weights[j])

    act = Ternary.apply if quantized else F.relu

    def forward(x):
        z = F.conv2d(x, conv_weight(0), padding=1)
        for j in range(1, 5):
            a = act(bns[j - 1](z))
            if pool_before[j]:
                a = F.max_pool2d(a, 2)
            z = F.conv2d(a, conv_weight(j), padding=1)
        g = act(bns[4](z)).mean(dim=(2, 3))
        if not quantized:
            return F.linear(g, fc_w, fc_b)
        with torch.no_grad():
            logit_scale = (fc_w.abs().max() / 127).clamp_min(1e-6) / 49
        return F.linear(g, Int8.apply(fc_w, False), Bias.apply(fc_b, logit_scale))

    pixels, labels, n, h, w = load_train(data_dir)
    images = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).view(n, 1, h, w)
    label_t = torch.frombuffer(bytearray(labels), dtype=torch.uint8).long()
    order = torch.randperm(n)
    gen = torch.Generator().manual_seed(1)

    def load_batch(s):
        idx = order[s * batch:(s + 1) * batch]
        padded = F.pad(images[idx].float() / 255, (2, 2, 2, 2))
        shifts = torch.randint(0, 5, (len(idx), 2), generator=gen).tolist()
        flips = torch.randint(0, 2, (len(idx),), generator=gen).tolist()
        x = torch.empty(len(idx), 1, h, w)
        for i, ((dy, dx), flip) in enumerate(zip(shifts, flips)):
            crop = padded[i, :, dy:dy + h, dx:dx + w]
            x[i] = crop.flip(-1) if flip else crop
        return x, label_t[idx]

    for bn in bns:
        bn.train()

    def run(first, count):
        total = torch.zeros(())
        for s in range(first, first + count):
            x, y = load_batch(s)
            loss = F.cross_entropy(forward(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if quantized:
                with torch.no_grad():
                    for w_ in weights[1:]:
                        w_.clamp_(-1, 1)
            total += loss.detach()
        return total.item()

    run(0, warmup)
    t0 = time.perf_counter()
    c0 = time.process_time()
    run(warmup, steps)
    seconds = time.perf_counter() - t0
    return {"images_per_second": steps * batch / seconds, "seconds": seconds,
            "cpu_seconds": time.process_time() - c0, "torch": torch.__version__}


def measure_stqn(binary, variant, threads, args):
    weights, acts = VARIANTS[variant]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        subprocess.run([binary, "bench", "--weights", weights, "--acts", acts, "--threads",
                        str(threads), "--steps", str(args.steps), "--warmup", str(args.warmup),
                        "--batch", str(args.batch), "--data", args.data, "--json", out],
                       check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def measure_torch(variant, threads, args):
    env = dict(os.environ, **OMP_ENV)
    r = subprocess.run(["/usr/bin/python3", os.path.abspath(__file__), "--torch-step", variant,
                        "--threads", str(threads), "--steps", str(args.steps), "--warmup",
                        str(args.warmup), "--batch", str(args.batch), "--data", args.data],
                       check=True, env=env, capture_output=True, text=True)
    return json.loads(r.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stqn-train")
    p.add_argument("--json")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=2, help="alternating rounds; the best is kept")
    p.add_argument("--data", default=DATA_DIR)
    p.add_argument("--torch-step", choices=sorted(VARIANTS))
    args = p.parse_args()

    if args.torch_step:
        print(json.dumps(torch_step_bench(args.torch_step, int(args.threads), args.steps,
                                          args.warmup, args.batch, args.data)))
        return
    if not args.stqn_train or not args.json:
        p.error("--stqn-train and --json are required")

    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        for variant in VARIANTS:
            best = {"stqn-train": None, "pytorch": None}
            for _ in range(args.repeats):
                for side, fn in (("stqn-train", lambda: measure_stqn(args.stqn_train, variant, threads, args)),
                                 ("pytorch", lambda: measure_torch(variant, threads, args))):
                    r = fn()
                    if best[side] is None or r["images_per_second"] > best[side]["images_per_second"]:
                        best[side] = r
            s, t = best["stqn-train"]["images_per_second"], best["pytorch"]["images_per_second"]
            rows.append({"variant": variant, "weights": VARIANTS[variant][0], "acts": VARIANTS[variant][1],
                         "threads": threads, "batch": args.batch, "steps": args.steps,
                         "stqn_train_images_per_second": s, "pytorch_images_per_second": t,
                         "ratio": s / t})
            print(f"  {variant:5s} threads {threads}: stqn-train {s:7.1f}  pytorch {t:7.1f}  ratio {s / t:.2f}",
                  file=sys.stderr)

    print(f"\nTraining images/s, batch {args.batch}, {args.steps} timed steps after {args.warmup}, "
          f"best of {args.repeats}")
    print(f"| variant | threads | stqn-train | PyTorch (Python) | stqn-train / PyTorch |")
    print(f"|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['variant']} | {r['threads']} | {r['stqn_train_images_per_second']:.1f} | "
              f"{r['pytorch_images_per_second']:.1f} | {r['ratio']:.2f}x |")
    load = os.getloadavg()
    result = {"benchmark": "trainer", "batch": args.batch, "steps": args.steps, "warmup": args.warmup,
              "repeats": args.repeats, "omp_env": OMP_ENV, "cpus": os.cpu_count(),
              "load_average_at_end": load, "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "results": rows}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    tmp = args.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(tmp, args.json)
    print(f"wrote {args.json} (load average at end {load[0]:.2f}: figures are noisy when the machine is busy)")


if __name__ == "__main__":
    main()
