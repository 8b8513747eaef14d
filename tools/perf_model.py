#!/usr/bin/env python3
"""Paper model of one WNO 3x3 layer on NVIDIA GPUs: kernel v1, kernel v2 and TensorRT's
native (implicit-GEMM) convolution. Prints the tables of docs/gpu-performance.md.

    python tools/perf_model.py [--resources build/resources.json]

Every number below is an assumption or a count, listed in docs/gpu-performance.md; the
register figures are nvcc 13.0's (tools/cuda_resources.py), and --resources reads newer ones.
Nothing here has been measured on a GPU: `make gpu-check` measures what this predicts.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

# name: (arch, SMs, clock GHz, fp32 FMA/clk/SM, mma.sync fp16->fp32 FMA/clk/SM,
#        native conv (cuDNN/TensorRT) fp16 FMA/clk/SM, DRAM GB/s, L2 GB/s, launch us)
GPUS = {
    "Orin AGX 64GB": ("87", 16, 1.30, 128, 1024, 1024, 204.8, 1200, 6.0),
    "Orin NX 16GB": ("87", 8, 0.918, 128, 1024, 1024, 102.4, 500, 6.0),
    "Orin Nano 8GB": ("87", 8, 0.625, 128, 1024, 1024, 68.0, 350, 6.0),
    "RTX 3090": ("86", 82, 1.695, 128, 256, 256, 936.0, 3000, 3.0),
    "RTX 4090": ("89", 128, 2.52, 128, 256, 256, 1008.0, 5000, 3.0),
    "H100 SXM": ("90", 132, 1.83, 128, 1024, 2048, 3350.0, 5500, 3.0),
    "H200": ("90", 132, 1.83, 128, 1024, 2048, 4800.0, 5500, 3.0),
}
# The WNO layer shapes (padding 1, C = K, F(4,3)): name, N, C, H, W.
SHAPES = [
    ("darcy N1 C20 66x66", 1, 20, 66, 66),
    ("N1 C32 64x64", 1, 32, 64, 64),
    ("N1 C64 128x128", 1, 64, 128, 128),
    ("N8 C32 64x64", 8, 32, 64, 64),
    ("N8 C64 128x128", 8, 64, 128, 128),
]
# ptxas registers of the F(4,3) kernels on sm_87, nvcc 13.0 (sm_90 is within 8 for every
# kernel); v2 keyed by out channels per block (32 or 64); v2a: v2 with the cp.async pipeline.
REGS = {
    ("v1", 0): 158,
    ("v2-fp16", 64): 96,
    ("v2-tf32", 64): 88,
    ("v2-3xtf32", 64): 88,
    ("v2-fp16", 32): 72,
    ("v2-tf32", 32): 61,
    ("v2-3xtf32", 32): 68,
    ("v2a-fp16", 64): 86,
    ("v2a-fp16", 32): 64,
}
THREADS = {"v1": 192, "v2": 384, "v2a": 384}
SMEM = {"v1": 27648, "v2": 36992, "v2a": 56960}  # v2a: F(4,3) fp16, two staged chunks
LIMITS = {
    "86": (1536, 16, 100 * 1024, 1024),
    "87": (1536, 16, 164 * 1024, 1024),
    "89": (1536, 24, 100 * 1024, 1024),
    "90": (2048, 32, 228 * 1024, 1024),
}
# Assumed efficiencies and latencies (docs/gpu-performance.md, "Assumptions").
ALU_ISSUE_EFF = 0.5  # fraction of the 4 x 32 lanes/clk/SM issue rate the transforms reach
V1_FFMA_SHARE = 0.38  # FFMA share of v1's instructions (SASS count, 33-42 %)
NATIVE_EFF = 0.6  # implicit-GEMM conv: fraction of tensor peak on large layers
NATIVE_LATENCY_US = 4.0  # smallest native conv kernel, Orin; 2.5 us on desktop/datacenter
# One channel chunk's critical path, cycles. v2a assumes the ~600 cycles of global-load
# latency in v2's path are hidden by loads issued two chunks ahead: the one figure here that
# is a guess about the hardware rather than a count, and the first the GPU check must test.
CHUNK_CYCLES = {"v1": 1500, "v2": 1400, "v2a": 800}
FIXED_CYCLES = {"v1": 3000, "v2": 4000, "v2a": 4000}  # prologue + epilogue, cycles


def blocks_per_sm(arch: str, threads: int, regs: int, smem: int) -> int:
    max_threads, max_blocks, smem_sm, reserved = LIMITS[arch]
    warps = threads // 32
    by_regs = 65536 // (math.ceil(regs * 32 / 256) * 256 * warps)
    return max(1, min(by_regs, max_threads // threads, smem_sm // (smem + reserved), max_blocks))


def v2_block_k(tiles: int, k: int, sms: int) -> int:
    """Out channels per block as the kernel picks them: a copy of conv_block_v2.h's row_blocks_for,
    held to it by tests/test_cuda_kernel.py::test_v2_block_k_choice."""
    kblocks = math.ceil(k / 16)
    if kblocks <= 2:
        return 32
    return 32 if math.ceil(tiles / 8) * math.ceil(kblocks / 4) < sms else 64


def model(gpu: str, shape: tuple, kernel: str, regs: dict, block_k: int = 0) -> dict:
    """block_k: v2's out channels per block, 32 or 64; 0: the kernel's own choice."""
    arch, sms, ghz, _fp32, mma, native, dram, l2, launch = GPUS[gpu]
    _, n, c, h, w = shape
    k, m, a = c, 4, 6
    p = a * a
    tiles = n * math.ceil(h / m) * math.ceil(w / m)
    direct_macs = n * k * c * 9 * h * w
    clk = ghz * 1e9
    if kernel.startswith("native"):
        rate = native if kernel == "native-fp16" else native / 2
        esize = 2 if kernel == "native-fp16" else 4
        t_tc = direct_macs / (sms * rate * clk * NATIVE_EFF)
        t_mem = (n * c * h * w + n * k * h * w) * esize / (dram * 1e9)
        floor = NATIVE_LATENCY_US if arch == "87" else 2.5
        t = max(t_tc * 1e6, t_mem * 1e6, floor)
        return {
            "us": launch + t,
            "bound": "tensor"
            if t_tc * 1e6 >= max(t_mem * 1e6, floor)
            else ("memory" if t_mem * 1e6 >= floor else "latency"),
        }
    if kernel == "v1":
        bn, bk, bc = 32, 16, 4
        kpad = math.ceil(k / bk) * bk
        blocks = math.ceil(tiles / bn) * (kpad // bk)
        macs = p * kpad * c * math.ceil(tiles / bn) * bn
        # FFMA-bound on CUDA cores: FFMA is V1_FFMA_SHARE of the issued instructions.
        t_alu = macs / V1_FFMA_SHARE / (min(sms, blocks) * 128 * clk * ALU_ISSUE_EFF)
        t_tc = 0.0
        l2_bytes = blocks * (p * bc * bk * 4) * math.ceil(c / bc) + blocks * bn * c * a * a * 4
        chunks, threads, key, smem = math.ceil(c / bc), THREADS["v1"], ("v1", 0), SMEM["v1"]
    else:
        prec = kernel.split("-", 1)[1]
        bn, bk = 8, block_k or v2_block_k(tiles, k, sms)
        bc = 16 if prec == "fp16" else 8
        kpad, cpad = math.ceil(k / 16) * 16, math.ceil(c / bc) * bc
        tpad = math.ceil(tiles / bn) * bn
        blocks = (tpad // bn) * math.ceil(kpad / bk)
        macs = p * kpad * cpad * tpad * (3 if prec == "3xtf32" else 1)
        rate = mma if prec == "fp16" else mma / 2
        t_tc = macs / (min(sms, blocks) * rate * clk)
        # CUDA-core instructions per (tile, channel) in, per (tile, out channel) out (SASS).
        instr = tpad * cpad * 350 * math.ceil(kpad / bk) + tpad * k * 200
        t_alu = instr / (min(sms, blocks) * 128 * clk * ALU_ISSUE_EFF)
        esize = 2 if prec == "fp16" else 4
        l2_bytes = blocks * p * cpad * min(bk, kpad) * esize  # U, once per block
        family = kernel.split("-")[0]  # v2 or v2a
        chunks, threads, key, smem = cpad // bc, THREADS[family], (f"{family}-{prec}", bk), SMEM[family]
    esize = 2 if kernel.endswith("fp16") else 4
    t_l2 = l2_bytes / (l2 * 1e9)
    t_dram = (n * c * h * w + n * k * h * w) * esize / (dram * 1e9)
    per_sm = blocks_per_sm(arch, threads, regs.get(key, REGS[key]), smem)
    waves = math.ceil(blocks / (sms * per_sm))
    family = kernel.split("-")[0]
    t_lat = waves * (FIXED_CYCLES[family] + chunks * CHUNK_CYCLES[family]) / clk
    terms = {"tensor": t_tc, "alu": t_alu, "L2": t_l2, "dram": t_dram, "latency": t_lat}
    bound = max(terms, key=terms.get)
    return {
        "us": launch + terms[bound] * 1e6,
        "bound": bound,
        "blocks": blocks,
        "per_sm": per_sm,
        "block_k": 0 if kernel == "v1" else bk,
        "terms_us": {k2: round(v * 1e6, 2) for k2, v in terms.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resources", type=Path, default=None, help="tools/cuda_resources.py --json output")
    args = ap.parse_args()
    regs = {}
    if args.resources:
        for r in json.loads(args.resources.read_text())["rows"]:
            if r["tile"] == 4 and r["arch"] == "sm_87" and r["kernel"] in ("v1", "v2", "v2a"):
                prec = {"MathF16": "fp16", "MathTf32": "tf32", "Math3xTf32": "3xtf32"}.get(r["math"])
                name = f"{r['kernel']}-{prec}" if prec else "v1"
                regs[(name, r.get("block_k", 64) if prec else 0)] = r["registers"]
    kernels = ["v1", "v2-fp16", "v2a-fp16", "native-fp16", "v2-tf32", "v2-3xtf32", "native-tf32"]
    for gpu in GPUS:
        print(f"\n{gpu} (sm_{GPUS[gpu][0]}), microseconds, F(4,3), bound in brackets")
        print("| shape | " + " | ".join(kernels) + " | v2 fp16 vs native fp16 | v2a fp16 vs native fp16 |")
        print("|---|" + "---|" * (len(kernels) + 2))
        for shape in SHAPES:
            res = {k: model(gpu, shape, k, regs) for k in kernels}
            cells = [f"{res[k]['us']:.0f} ({res[k]['bound']})" for k in kernels]
            ratios = [res["native-fp16"]["us"] / res[k]["us"] for k in ("v2-fp16", "v2a-fp16")]
            print(f"| {shape[0]} | " + " | ".join(cells) + " | " + " | ".join(f"{r:.2f}x" for r in ratios) + " |")
        print("\nv2 fp16 with 64 / 32 out channels per block (the kernel picks the marked one)")
        print("| shape | 64 | 32 | picked |")
        print("|---|---|---|---|")
        for shape in SHAPES:
            r64, r32 = (model(gpu, shape, "v2-fp16", regs, bk) for bk in (64, 32))
            picked = model(gpu, shape, "v2-fp16", regs)["block_k"]
            print(f"| {shape[0]} | {r64['us']:.0f} ({r64['bound']}) | {r32['us']:.0f} ({r32['bound']}) | {picked} |")


if __name__ == "__main__":
    main()
