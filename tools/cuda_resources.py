#!/usr/bin/env python3
"""Registers, shared memory, blocks per SM and tensor-core instructions of every CUDA kernel
of runtime/src/cuda, per architecture, without a GPU.

    python tools/cuda_resources.py                      # sm_75 80 86 87 89 90, table
    python tools/cuda_resources.py --arch 87,90 --json resources.json

For each architecture it compiles winograd_cuda.cu (v1) and winograd_cuda_v2.cu (v2) with
`nvcc -Xptxas -v` (one architecture at a time, cached in build/resources by source hash),
reads registers, stack and spills from ptxas, takes each kernel's threads and dynamic shared
memory from the block configuration headers (a small host program compiled with the C++
compiler), and computes resident blocks and occupancy per SM from the per-architecture limits
below. With cuobjdump (and nvdisasm) on PATH or next to nvcc, it also counts the SASS
instructions of each kernel: HMMA (tensor core), FFMA, LDGSTS (cp.async), local loads/stores, all. Kernel "v2a"
is v2 with the cp.async pipeline (WNO_CUDA_V2_PIPELINE=async; F(2,3) and F(4,3)).

The limits are the CUDA C++ Programming Guide's compute-capability table; the register
allocation unit is 256 registers per warp on every architecture here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime"
ARCHS = ("75", "80", "86", "87", "89", "90")

# arch: (max threads/SM, max blocks/SM, shared memory/SM bytes, max shared/block opt-in,
#        shared memory reserved per block, registers/SM)
LIMITS = {
    "75": (1024, 16, 64 * 1024, 64 * 1024, 0, 65536),
    "80": (2048, 32, 164 * 1024, 163 * 1024, 1024, 65536),
    "86": (1536, 16, 100 * 1024, 99 * 1024, 1024, 65536),
    "87": (1536, 16, 164 * 1024, 163 * 1024, 1024, 65536),
    "89": (1536, 24, 100 * 1024, 99 * 1024, 1024, 65536),
    "90": (2048, 32, 228 * 1024, 227 * 1024, 1024, 65536),
}

CONFIG_PROGRAM = r"""
#include <cstdio>
#include "conv_block.h"
#include "conv_block_v2_async.h"
using namespace wno::cuda;
template <int M> void show1() {
  std::printf("v1 %d %d %d\n", M, Block<M>::threads, 0);
}
template <int M, class Math, int MF> void show2(const char* math) {
  using B = v2::Block<M, Math, MF>;
  std::printf("v2 %d %d %d %s %d\n", M, B::threads, B::smem_bytes, math, B::BK);
}
template <int M, class Math, int MF> void show2a(const char* math) {
  using B = v2::Block<M, Math, MF>;
  std::printf("v2a %d %d %d %s %d\n", M, B::threads, v2::Staging<M, Math, MF>::smem_bytes, math, B::BK);
}
template <class Math> void show2_all(const char* math) {
  show2<2, Math, 4>(math); show2<4, Math, 4>(math); show2<6, Math, 4>(math);
  show2<2, Math, 2>(math); show2<4, Math, 2>(math); show2<6, Math, 2>(math);
  show2a<2, Math, 4>(math); show2a<4, Math, 4>(math); show2a<2, Math, 2>(math); show2a<4, Math, 2>(math);
}
int main() {
  show1<2>(); show1<4>(); show1<6>();
  show2_all<MathF16>("MathF16"); show2_all<MathTf32>("MathTf32"); show2_all<Math3xTf32>("Math3xTf32");
}
"""


def find_tool(name: str, nvcc: str | None) -> str | None:
    """$WNO_<NAME>, next to nvcc, PATH, /usr/local/cuda/bin, or NVIDIA's pip package in this
    Python (`pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm`: nvidia/cu*/bin)."""
    env = os.environ.get(f"WNO_{name.upper()}")
    if env and Path(env).is_file():
        return env
    if nvcc and (Path(nvcc).parent / name).is_file():
        return str(Path(nvcc).parent / name)
    found = shutil.which(name) or (
        f"/usr/local/cuda/bin/{name}" if Path(f"/usr/local/cuda/bin/{name}").is_file() else None
    )
    if found:
        return found
    packaged = sorted(Path(sysconfig.get_paths()["purelib"]).glob(f"nvidia/cu*/bin/{name}"))
    return str(packaged[-1]) if packaged else None


def source_hash(nvcc: str) -> str:
    h = hashlib.sha256()
    for folder in (RUNTIME / "include", RUNTIME / "src" / "cuda", RUNTIME / "src" / "common"):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                h.update(path.name.encode() + path.read_bytes())
    h.update(subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True).stdout.encode())
    return h.hexdigest()[:16]


def block_configs() -> dict[tuple[str, int, str, int], tuple[int, int]]:
    """{(kernel kind, tile, math or storage, v2 out channels per block or 0): (threads, dynamic
    shared bytes)} from the headers."""
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if not cxx:
        raise SystemExit("no C++ compiler found (set CXX)")
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "cfg.cpp", Path(tmp) / "cfg"
        src.write_text(CONFIG_PROGRAM)
        subprocess.run(
            [
                cxx,
                "-std=c++17",
                "-O0",
                f"-I{RUNTIME / 'include'}",
                f"-I{RUNTIME / 'src' / 'cuda'}",
                str(src),
                "-o",
                str(exe),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    configs = {}
    for line in out.splitlines():
        kind, tile, threads, smem, *rest = line.split()
        key = (kind, int(tile), rest[0], int(rest[1])) if rest else (kind, int(tile), "", 0)
        configs[key] = (int(threads), int(smem))
    return configs


def compile_arch(nvcc: str, arch: str, out_dir: Path) -> tuple[str, list[Path]]:
    """ptxas -v log and the objects of both kernel files for one architecture."""
    out_dir.mkdir(parents=True, exist_ok=True)
    log, objects = "", []
    for name in ("winograd_cuda.cu", "winograd_cuda_v2.cu"):
        obj = out_dir / (Path(name).stem + ".o")
        cmd = [
            nvcc,
            "-std=c++17",
            "-O3",
            f"-arch=sm_{arch}",
            "-Xptxas",
            "-v",
            f"-I{RUNTIME / 'include'}",
            "-c",
            str(RUNTIME / "src" / "cuda" / name),
            "-o",
            str(obj),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise SystemExit(f"nvcc failed for sm_{arch} {name}:\n{r.stderr[-4000:]}")
        log += r.stdout + r.stderr
        objects.append(obj)
    return log, objects


def parse_ptxas(log: str) -> dict[str, dict]:
    kernels, current = {}, None
    for line in log.splitlines():
        if m := re.search(r"Compiling entry function '(\w+)' for 'sm_(\d+)'", line):
            current = {"mangled": m.group(1)}
        elif current is not None and (
            m := re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        ):
            current.update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
        elif current is not None and (m := re.search(r"Used (\d+) registers", line)):
            current["registers"] = int(m.group(1))
            sm = re.search(r"(\d+) bytes smem", line)
            current["static_smem"] = int(sm.group(1)) if sm else 0
            kernels[current["mangled"]] = current
            current = None
    return kernels


def sass_counts(cuobjdump: str, objects: list[Path]) -> dict[str, dict]:
    counts: dict[str, dict] = {}
    env = dict(os.environ)
    disasm = (
        str(Path(cuobjdump).parent / "nvdisasm")
        if (Path(cuobjdump).parent / "nvdisasm").is_file()
        else find_tool("nvdisasm", None)
    )
    if disasm:
        env["PATH"] = str(Path(disasm).parent) + os.pathsep + env.get("PATH", "")
    for obj in objects:
        r = subprocess.run([cuobjdump, "-sass", str(obj)], capture_output=True, text=True, check=False, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"cuobjdump -sass failed: {r.stderr.strip()[-300:]}")
        current = None
        for line in r.stdout.splitlines():
            if m := re.search(r"Function : (\w+)", line):
                current = counts.setdefault(
                    m.group(1), {"HMMA": 0, "FFMA": 0, "LDGSTS": 0, "LDL/STL": 0, "instructions": 0}
                )
            elif current is not None and (
                m := re.search(r"/\*[0-9a-f]{4,}\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)", line)
            ):
                op = m.group(2)
                current["instructions"] += 1
                base = op.split(".")[0]
                if base == "HMMA":
                    current["HMMA"] += 1
                elif base == "FFMA":
                    current["FFMA"] += 1
                elif base == "LDGSTS":  # cp.async
                    current["LDGSTS"] += 1
                elif base in ("LDL", "STL"):
                    current["LDL/STL"] += 1
    return counts


def demangle(names: list[str]) -> dict[str, str]:
    tool = shutil.which("c++filt")
    if not tool or not names:
        return {n: n for n in names}
    out = subprocess.run([tool], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return dict(zip(names, out.splitlines(), strict=False))


def short_name(pretty: str) -> tuple[str, int, str, int] | None:
    """('v1'|'v2'|'w1'|'w2', tile, math/storage, v2 out channels per block or 0) of a
    kernel's demangled name."""
    if m := re.search(r"winograd_conv_kernel<(\d), ([\w:]+)>", pretty):
        return ("v1", int(m.group(1)), m.group(2).split("::")[-1], 0)
    if m := re.search(r"winograd_conv_v2(_async)?_kernel<(\d), wno::cuda::(\w+), (\d), ([\w:]+)>", pretty):
        return ("v2a" if m.group(1) else "v2", int(m.group(2)), m.group(3), 16 * int(m.group(4)))
    if m := re.search(r"winograd_weight_kernel<(\d), ([\w:]+)>", pretty):
        return ("w1", int(m.group(1)), m.group(2).split("::")[-1], 0)
    if m := re.search(r"winograd_weight_v2_kernel<(\d), wno::cuda::(\w+), ([\w:]+)>", pretty):
        return ("w2", int(m.group(1)), m.group(2), 0)
    return None


def occupancy(arch: str, threads: int, regs: int, smem: int) -> tuple[int, float]:
    max_threads, max_blocks, smem_sm, _, reserved, regs_sm = LIMITS[arch]
    warps = -(-threads // 32)
    regs_per_warp = -(-max(regs, 1) * 32 // 256) * 256
    by_regs = regs_sm // (regs_per_warp * warps)
    by_threads = max_threads // (warps * 32)
    by_smem = smem_sm // (smem + reserved) if smem + reserved > 0 else max_blocks
    blocks = min(by_regs, by_threads, by_smem, max_blocks)
    return blocks, blocks * warps * 32 / max_threads


def collect(archs: list[str], nvcc: str, cuobjdump: str | None, build: Path) -> list[dict]:
    configs = block_configs()
    digest = source_hash(nvcc)
    rows = []
    for arch in archs:
        out_dir = build / f"{digest}-sm_{arch}"
        log_file = out_dir / "ptxas.log"
        objects = [out_dir / "winograd_cuda.o", out_dir / "winograd_cuda_v2.o"]
        if log_file.exists() and all(o.exists() for o in objects):
            log = log_file.read_text()
        else:
            log, objects = compile_arch(nvcc, arch, out_dir)
            log_file.write_text(log)
        kernels = parse_ptxas(log)
        sass = sass_counts(cuobjdump, objects) if cuobjdump else {}
        pretty = demangle(sorted(kernels))
        for mangled, k in sorted(kernels.items(), key=lambda kv: pretty[kv[0]]):
            name = short_name(pretty[mangled])
            if name is None:
                continue
            kind, tile, math, block_k = name
            if kind in ("v1", "v2", "v2a"):
                threads, dyn = configs[(kind, tile, math if kind != "v1" else "", block_k)]
            else:
                threads, dyn = 128, 0
            blocks, occ = occupancy(arch, threads, k["registers"], k["static_smem"] + dyn)
            rows.append(
                {
                    "arch": f"sm_{arch}",
                    "kernel": kind,
                    "tile": tile,
                    "math": math,
                    "block_k": block_k,
                    "threads": threads,
                    "registers": k["registers"],
                    "stack": k["stack"],
                    "spill_stores": k["spill_stores"],
                    "spill_loads": k["spill_loads"],
                    "smem_bytes": k["static_smem"] + dyn,
                    "blocks_per_sm": blocks,
                    "occupancy": round(occ, 4),
                    **({"sass": sass[mangled]} if mangled in sass else {}),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default=",".join(ARCHS), help="comma-separated, e.g. 87,90")
    ap.add_argument("--nvcc", default=None)
    ap.add_argument("--cuobjdump", default=None, help="default: PATH, next to nvcc, $WNO_CUOBJDUMP")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build" / "resources")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    ap.add_argument("--no-sass", action="store_true")
    args = ap.parse_args(argv)
    nvcc = (
        args.nvcc
        or shutil.which("nvcc")
        or ("/usr/local/cuda/bin/nvcc" if Path("/usr/local/cuda/bin/nvcc").exists() else None)
    )
    if not nvcc:
        print("cuda_resources: nvcc not found (put it on PATH or pass --nvcc)", file=sys.stderr)
        return 2
    archs = [a.strip().removeprefix("sm_") for a in args.arch.split(",") if a.strip()]
    unknown = [a for a in archs if a not in LIMITS]
    if unknown:
        print(f"cuda_resources: no limits for sm_{', sm_'.join(unknown)}", file=sys.stderr)
        return 2
    cuobjdump = None if args.no_sass else (args.cuobjdump or find_tool("cuobjdump", nvcc))
    rows = collect(archs, nvcc, cuobjdump, args.build_dir)
    header = (
        "arch",
        "kernel",
        "F",
        "math/storage",
        "BK",
        "thr",
        "regs",
        "spill",
        "smem B",
        "blk/SM",
        "occ",
        "HMMA",
        "FFMA",
        "LDGSTS",
        "instr",
    )
    print(" | ".join(header))
    for r in rows:
        s = r.get("sass", {})
        print(
            " | ".join(
                str(v)
                for v in (
                    r["arch"],
                    r["kernel"],
                    r["tile"],
                    r["math"],
                    r["block_k"] or "-",
                    r["threads"],
                    r["registers"],
                    r["spill_stores"] + r["spill_loads"] + r["stack"],
                    r["smem_bytes"],
                    r["blocks_per_sm"],
                    f"{r['occupancy']:.0%}",
                    s.get("HMMA", "-"),
                    s.get("FFMA", "-"),
                    s.get("LDGSTS", "-"),
                    s.get("instructions", "-"),
                )
            )
        )
    if not cuobjdump and not args.no_sass:
        print("(no cuobjdump found: SASS columns empty; set WNO_CUOBJDUMP or put the CUDA binutils on PATH)")
    if args.json:
        args.json.write_text(json.dumps({"nvcc": nvcc, "cuobjdump": cuobjdump, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
