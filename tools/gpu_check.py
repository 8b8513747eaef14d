#!/usr/bin/env python3
"""The prepared GPU check (`make gpu-check`): everything issue 12 asks a GPU to confirm.

On a Linux machine with an NVIDIA GPU, nvcc and PyTorch with CUDA (no TensorRT, no network):
  1. builds runtime/'s CUDA library for this GPU's architecture (build/gpu-check/sm_XX);
  2. runs the GPU tests (tests/test_cuda_kernel.py -m gpu: kernel v1 and v2 against
     F.conv2d and the golden vectors, float32 and float16, every tile; v1's 1-D path against
     F.conv1d, the line golden vectors and the emulation, v2's refusal of a line);
  3. runs compute-sanitizer memcheck and racecheck on one small case
     (tools/gpu_sanitize_case.cu: every entry point, every tile, both dtypes, 1-D too);
  4. times v1, v2 and cuDNN (torch conv2d, cudnn.benchmark on; float32 with and without
     TF32, float16) on the WNO layer shapes: this machine's version of the paper's Table 1;
  5. times the whole WNO in PyTorch on the GPU with cuDNN's conv and with our kernels;
  6. writes out/gpu-check/report.json and report.md (--out to change).
Budget: under 8 minutes on an H100-class GPU (--quick: about a minute).
Without a GPU it prints one line and exits 0. docs/gpu-performance.md has the predictions
these numbers confirm or refute.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime"
sys.path.insert(0, str(ROOT))

# The WNO's 3x3 layer shapes (padding 1, C = K): the shipped Darcy layer (width 20 on a
# 64x64 grid plus domain padding 2), the default width 32, and the paper's large layer.
SHAPES = [
    ("darcy", 1, 20, 66, 66),
    ("w32", 1, 32, 64, 64),
    ("w64-128", 1, 64, 128, 128),
    ("w32-b8", 8, 32, 64, 64),
    ("w64-128-b8", 8, 64, 128, 128),
]
FP32, FP16 = 0, 1
MATH = {"default": 0, "tf32": 1, "3xtf32": 2}


class ConvDesc(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_int) for n in ("batch", "in_channels", "out_channels", "height", "width", "padding", "tile")
    ]


def say(msg: str) -> None:
    print(f"gpu-check: {msg}", flush=True)


def no_gpu_reason() -> str | None:
    """None when torch sees a CUDA GPU; else why the check cannot run (one line)."""
    smi = shutil.which("nvidia-smi")
    try:
        import torch
    except ImportError:
        if smi and subprocess.run([smi, "-L"], capture_output=True, text=True, check=False).stdout.strip():
            return "FAIL: an NVIDIA GPU is present but PyTorch is not installed (pip install torch with CUDA)"
        return "no NVIDIA GPU found (and no PyTorch): nothing to check on this machine"
    if torch.cuda.is_available():
        return None
    if smi and subprocess.run([smi, "-L"], capture_output=True, text=True, check=False).stdout.strip():
        return (
            f"FAIL: an NVIDIA GPU is present but this PyTorch ({torch.__version__}) has no CUDA: "
            "install a CUDA build of torch"
        )
    return "no NVIDIA GPU found (torch.cuda.is_available() is False): nothing to check on this machine"


def find_nvcc() -> str | None:
    for cand in (os.environ.get("CUDACXX"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and Path(cand).is_file():
            return cand
    return None


def run(cmd: list[str], timeout: int, env: dict | None = None, cwd: Path | None = None) -> tuple[int, str, float]:
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False)
        return r.returncode, r.stdout + r.stderr, time.monotonic() - t0
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return 124, out + f"\n(timed out after {timeout} s)", time.monotonic() - t0


# ---------------------------------------------------------------------------- steps


def build(nvcc: str, arch: str, out: Path) -> Path:
    build_dir = ROOT / "build" / "gpu-check" / f"sm_{arch}"
    cmake = shutil.which("cmake")
    if not cmake:
        raise SystemExit("gpu-check: FAIL: cmake not found")
    rc, log, _ = run(
        [
            cmake,
            "-S",
            str(RUNTIME),
            "-B",
            str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_CUDA_COMPILER={nvcc}",
            f"-DCMAKE_CUDA_ARCHITECTURES={arch}",
            "-DWNO_BUILD_CUDA=ON",
            "-DWNO_BUILD_CUDA_EMULATION=OFF",
            "-DWNO_PTXAS_VERBOSE=ON",
        ],
        300,
    )
    (out / "build.log").write_text(log)
    if rc != 0:
        raise SystemExit(f"gpu-check: FAIL: cmake configure failed (see {out / 'build.log'})")
    rc, log2, _ = run(
        [cmake, "--build", str(build_dir), "--target", "wno_winograd_cuda", "-j", str(min(8, os.cpu_count() or 1))], 900
    )
    (out / "build.log").write_text(log + log2)
    if rc != 0:
        raise SystemExit(f"gpu-check: FAIL: build failed (see {out / 'build.log'})")
    return build_dir / "libwno_winograd_cuda.so"


def gpu_tests(lib: Path, out: Path, quick: bool) -> dict:
    env = {**os.environ, "WNO_EDGE_NATIVE_CUDA_LIB": str(lib)}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-m",
        "gpu",
        "tests/test_cuda_kernel.py",
        "-p",
        "no:cacheprovider",
    ]
    if quick:
        cmd += ["-k", "matches_conv2d or line_equals"]
    rc, log, secs = run(cmd, 600, env=env, cwd=ROOT)
    (out / "gpu-tests.log").write_text(log)
    summary = next(
        (
            ln
            for ln in reversed(log.splitlines())
            if " passed" in ln or " failed" in ln or " skipped" in ln or " error" in ln
        ),
        log.strip().splitlines()[-1] if log.strip() else "",
    )
    return {"ok": rc == 0, "returncode": rc, "summary": summary.strip("= "), "seconds": round(secs, 1)}


def sanitizer(nvcc: str, lib: Path, arch: str, out: Path) -> dict:
    tool = next(
        (
            c
            for c in (
                shutil.which("compute-sanitizer"),
                str(Path(nvcc).parent / "compute-sanitizer"),
                "/usr/local/cuda/compute-sanitizer/compute-sanitizer",
            )
            if c and Path(c).is_file()
        ),
        None,
    )
    if tool is None:
        return {"ok": None, "note": "compute-sanitizer not found next to nvcc or on PATH: not run"}
    exe = lib.parent / "gpu_sanitize_case"
    rc, log, _ = run(
        [
            nvcc,
            "-std=c++17",
            "-O2",
            f"-arch=sm_{arch}",
            f"-I{RUNTIME / 'include'}",
            str(ROOT / "tools" / "gpu_sanitize_case.cu"),
            "-o",
            str(exe),
            f"-L{lib.parent}",
            "-lwno_winograd_cuda",
            f"-Xlinker=-rpath,{lib.parent}",
        ],
        300,
    )
    if rc != 0:
        (out / "sanitizer.log").write_text(log)
        return {"ok": False, "note": "the sanitizer case did not build (sanitizer.log)"}
    results, text = {}, ""
    for check in ("memcheck", "racecheck"):
        extra = ["--leak-check", "full"] if check == "memcheck" else ["--racecheck-report", "all"]
        rc, log, secs = run([tool, "--tool", check, "--error-exitcode", "3", *extra, str(exe)], 300)
        text += f"==== {check} (rc {rc}, {secs:.1f} s)\n{log}\n"
        results[check] = {
            "ok": rc == 0,
            "returncode": rc,
            "seconds": round(secs, 1),
            "last_line": log.strip().splitlines()[-1] if log.strip() else "",
        }
    (out / "sanitizer.log").write_text(text)
    return {"ok": all(r["ok"] for r in results.values()), **results}


class Kernels:
    """Our CUDA kernels on torch tensors, weights transformed once per (layer, kernel)."""

    def __init__(self, lib: Path):
        self.lib = ctypes.CDLL(str(lib))
        p, d = ctypes.c_void_p, ctypes.POINTER(ConvDesc)
        for prefix in ("wno_cuda_", "wno_cuda_v2_"):
            getattr(self.lib, prefix + "weight_size").restype = ctypes.c_size_t
            getattr(self.lib, prefix + "weight_size").argtypes = [d, ctypes.c_int]
            getattr(self.lib, prefix + "transform_weights").argtypes = [d, ctypes.c_int, p, p, p]
        self.lib.wno_cuda_conv2d.argtypes = [d, ctypes.c_int, p, p, p, p, p, ctypes.c_size_t, p]
        self.lib.wno_cuda_v2_conv2d.argtypes = [d, ctypes.c_int, ctypes.c_int, p, p, p, p, p, ctypes.c_size_t, p]
        self.lib.wno_cuda_last_error.restype = ctypes.c_char_p

    def prepare(self, x, weight, bias, tile: int, version: int, math: str = "default"):
        """A callable y = conv(x) for this x's shape and dtype (weights transformed now)."""
        import torch

        n, c, h, w = x.shape
        k = weight.shape[0]
        desc = ConvDesc(n, c, k, h, w, 1, tile)
        dt = FP32 if x.dtype == torch.float32 else FP16
        prefix = "wno_cuda_" if version == 1 else "wno_cuda_v2_"
        u = torch.empty(
            getattr(self.lib, prefix + "weight_size")(ctypes.byref(desc), dt), dtype=torch.uint8, device=x.device
        )
        wf = weight.detach().float().contiguous()
        stream = torch.cuda.current_stream().cuda_stream
        st = getattr(self.lib, prefix + "transform_weights")(
            ctypes.byref(desc), dt, wf.data_ptr(), u.data_ptr(), stream
        )
        if st != 0:
            raise RuntimeError(f"transform_weights: status {st}: {self.lib.wno_cuda_last_error().decode()}")
        b = None if bias is None else bias.detach().float().contiguous()
        y = torch.empty((n, k, h, w), dtype=x.dtype, device=x.device)
        args = (ctypes.byref(desc), dt)
        conv, m = self.lib.wno_cuda_conv2d, MATH[math]

        def call(xin):
            s = torch.cuda.current_stream().cuda_stream
            if version == 1:
                r = conv(
                    *args, xin.data_ptr(), u.data_ptr(), None if b is None else b.data_ptr(), y.data_ptr(), None, 0, s
                )
            else:
                r = self.lib.wno_cuda_v2_conv2d(
                    *args,
                    m,
                    xin.data_ptr(),
                    u.data_ptr(),
                    None if b is None else b.data_ptr(),
                    y.data_ptr(),
                    None,
                    0,
                    s,
                )
            if r != 0:
                raise RuntimeError(f"conv: status {r}: {self.lib.wno_cuda_last_error().decode()}")
            return y

        call.keep = (u, wf, b)  # alive as long as the callable
        return call


def time_gpu(fn, budget_s: float = 0.25, repeats: int = 5) -> float:
    """Median microseconds per call: CUDA events around blocks of calls sized to ~budget/repeats."""
    import torch

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    once = max(time.perf_counter() - t0, 1e-6)
    iters = max(3, min(2000, int(budget_s / repeats / once)))
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000.0 / iters)
    return statistics.median(times)


def rel_err(y, ref) -> float:
    d = (y.double() - ref.double()).abs().max()
    return float(d / ref.double().abs().max())


@contextlib.contextmanager
def v2_variant(block_k: int = 0, pipeline: str = "registers"):
    """WNO_CUDA_V2_BLOCK_K (0: the kernel's own choice) and WNO_CUDA_V2_PIPELINE for the
    calls inside; the caller's values come back after."""
    wanted = {
        "WNO_CUDA_V2_BLOCK_K": str(block_k) if block_k else None,
        "WNO_CUDA_V2_PIPELINE": None if pipeline == "registers" else pipeline,
    }
    before = {name: os.environ.pop(name, None) for name in wanted}
    os.environ.update({name: value for name, value in wanted.items() if value is not None})
    try:
        yield
    finally:
        for name, value in before.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


def layer_table(kern: Kernels, quick: bool, major: int) -> list[dict]:
    import torch
    import torch.nn.functional as F

    torch.backends.cudnn.benchmark = True
    rows = []
    shapes = SHAPES[:3] if quick else SHAPES
    tiles = (4,) if quick else (2, 4, 6)
    g = torch.Generator(device="cpu").manual_seed(0)
    for name, n, c, h, w in shapes:
        x32 = torch.randn(n, c, h, w, generator=g).cuda()
        wt = (torch.randn(c, c, 3, 3, generator=g) / (3 * c**0.5)).cuda()
        b = torch.randn(c, generator=g).cuda() * 0.1
        ref = F.conv2d(x32.double(), wt.double(), b.double(), padding=1)
        flops = 2.0 * n * c * c * 9 * h * w
        for dtype in ("fp32", "fp16"):
            x = x32 if dtype == "fp32" else x32.half()
            row = {"shape": name, "N": n, "C": c, "K": c, "H": h, "W": w, "dtype": dtype}
            if dtype == "fp32":
                for tf32 in (True, False):
                    torch.backends.cudnn.allow_tf32 = tf32
                    key = "cudnn_tf32_us" if tf32 else "cudnn_fp32_us"
                    row[key] = time_gpu(lambda x=x, wt=wt, b=b: F.conv2d(x, wt, b, padding=1))
                torch.backends.cudnn.allow_tf32 = True
            else:
                wh, bh = wt.half(), b.half()
                row["cudnn_fp16_us"] = time_gpu(lambda x=x, wh=wh, bh=bh: F.conv2d(x, wh, bh, padding=1))
                row["cudnn_fp16_err"] = rel_err(F.conv2d(x, wh, bh, padding=1), ref)
            for tile in tiles:
                # v2 picks 32 or 64 out channels per block by itself; F(4,3) also runs both
                # forced, and F(2,3) / F(4,3) the cp.async pipeline (sm_80+) beside the default
                variants = [(1, "default", 0, "registers"), (2, "default", 0, "registers")]
                if tile == 4:
                    variants += [(2, "default", 32, "registers"), (2, "default", 64, "registers")]
                if tile in (2, 4) and major >= 8:
                    variants.append((2, "default", 0, "async"))
                variants.append((2, "tf32", 0, "registers"))
                for version, math, block_k, pipeline in variants:
                    if dtype == "fp16" and math == "tf32":
                        continue
                    if version == 2 and dtype == "fp32" and major < 8:
                        continue
                    label = (
                        f"v{version}{'' if math == 'default' else '-' + math}"
                        f"{f'-bk{block_k}' if block_k else ''}"
                        f"{'' if pipeline == 'registers' else '-' + pipeline}_F{tile}"
                    )
                    try:
                        with v2_variant(block_k, pipeline):
                            fn = kern.prepare(x, wt, b, tile, version, math)
                            y = fn(x)
                            torch.cuda.synchronize()
                            row[label + "_err"] = rel_err(y, ref)
                            row[label + "_us"] = time_gpu(lambda fn=fn, x=x: fn(x))
                    except RuntimeError as exc:
                        row[label + "_error"] = str(exc)
            base = row.get("cudnn_tf32_us" if dtype == "fp32" else "cudnn_fp16_us")
            if base and row.get("v2_F4_us"):
                row["v2_F4_speedup_vs_cudnn"] = base / row["v2_F4_us"]
                row["v2_F4_tflops_direct_equiv"] = flops / (row["v2_F4_us"] * 1e-6) / 1e12
            rows.append(row)
            say(
                f"layer {name} {dtype}: "
                + ", ".join(f"{k[:-3]} {v:.1f} us" for k, v in row.items() if k.endswith("_us"))
            )
    return rows


def whole_wno(kern: Kernels, quick: bool, major: int) -> list[dict]:
    """The default WNO (width 32, 12 modes, 4 layers, 64x64 + domain padding) end to end in
    PyTorch on the GPU, its 3x3 convs by cuDNN (direct), by the PyTorch Winograd path, and by
    our v1 and v2 kernels (float32)."""
    import torch

    from wno_edge.model import WNO2d

    torch.backends.cudnn.benchmark = True
    rows = []
    for batch in (1,) if quick else (1, 8):
        torch.manual_seed(0)
        model = WNO2d(in_channels=1, out_channels=1, width=32, modes=(12, 12), winograd_tile=4).cuda().eval()
        a = torch.randn(batch, 1, 64, 64, device="cuda")
        variants = [("cudnn-direct", None, None), ("torch-winograd-F4", 4, None), ("ours-v1-F4", 4, 1)]
        if major >= 8:
            variants.append(("ours-v2-F4", 4, 2))
        ref = None
        for name, tile, version in variants:
            model.set_conv(tile)
            for layer in model.layers:
                layer.__dict__.pop("real_space", None)
            if version is not None:
                for layer in model.layers:
                    cache = {}

                    def real_space(v, layer=layer, cache=cache, version=version):
                        key = (v.shape, v.dtype)
                        if key not in cache:
                            with torch.no_grad():
                                w = layer.real_space_weight()
                            cache[key] = kern.prepare(v, w, layer.pointwise.bias, 4, version)
                        return cache[key](v.contiguous())

                    layer.real_space = real_space
            with torch.inference_mode():
                y = model(a)
                if ref is None:
                    ref = y.double()
                err = float((y.double() - ref).abs().max() / ref.abs().max())
                us = time_gpu(lambda model=model, a=a: model(a), budget_s=0.5)
            rows.append({"batch": batch, "variant": name, "ms": us / 1000.0, "rel_err_vs_cudnn": err})
            say(f"WNO batch {batch} {name}: {us / 1000:.3f} ms")
        for layer in model.layers:
            layer.__dict__.pop("real_space", None)
    return rows


def markdown(report: dict) -> str:
    lines = [
        f"# GPU check: {report['gpu']['name']} (sm_{report['gpu']['arch']})",
        "",
        (
            f"{report['when']}, torch {report['torch']}, CUDA {report['cuda']}, nvcc {report['nvcc_version']}, "
            f"total {report['seconds']:.0f} s."
        ),
        "",
        "| step | result |",
        "|---|---|",
        f"| build | {report['build']} |",
        f"| GPU tests | {'ok' if report['tests'].get('ok') else 'FAILED'}: {report['tests'].get('summary', '')} |",
    ]
    san = report["sanitizer"]
    if san.get("ok") is None:
        lines.append(f"| compute-sanitizer | {san.get('note')} |")
    else:
        for check in ("memcheck", "racecheck"):
            if check in san:
                lines.append(f"| {check} | {'ok' if san[check]['ok'] else 'FAILED'}: {san[check]['last_line']} |")
    lines += ["", "## One 3x3 layer (padding 1, C = K), microseconds per call, median", ""]
    if report["layers"]:
        keys = sorted(
            {k for r in report["layers"] for k in r if k.endswith("_us")}, key=lambda k: (not k.startswith("cudnn"), k)
        )
        lines.append(
            "| shape | dtype | "
            + " | ".join(k[:-3] for k in keys)
            + " | v2 F4 vs cuDNN | v2 F4 cp.async vs registers |"
        )
        lines.append("|---|---|" + "---|" * len(keys) + "---|---|")
        for r in report["layers"]:
            cells = [f"{r[k]:.1f}" if k in r else "" for k in keys]
            sp = r.get("v2_F4_speedup_vs_cudnn")
            speed = f"{sp:.2f}x" if sp else ""
            both = r.get("v2_F4_us") and r.get("v2-async_F4_us")
            pipeline = f"{r['v2_F4_us'] / r['v2-async_F4_us']:.2f}x" if both else ""
            lines.append(
                f"| {r['shape']} N{r['N']} C{r['C']} {r['H']}x{r['W']} | {r['dtype']} | "
                + " | ".join(cells)
                + f" | {speed} | {pipeline} |"
            )
        lines += ["", "Errors (max |y - y64| / max |y64|):", ""]
        for r in report["layers"]:
            errs = ", ".join(f"{k[:-4]} {v:.1e}" for k, v in r.items() if k.endswith("_err"))
            lines.append(f"- {r['shape']} {r['dtype']}: {errs}")
    lines += [
        "",
        "## Whole WNO (width 32, 12 modes, 4 layers, 64x64), PyTorch eager, float32",
        "",
        "| batch | variant | ms | rel. error vs cuDNN variant |",
        "|---|---|---|---|",
    ]
    for r in report["wno"]:
        lines.append(f"| {r['batch']} | {r['variant']} | {r['ms']:.3f} | {r['rel_err_vs_cudnn']:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Prepared GPU check of the CUDA kernels (issue 12).")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "gpu-check")
    ap.add_argument("--quick", action="store_true", help="fewer shapes and tiles (about a minute)")
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--skip-sanitizer", action="store_true")
    args = ap.parse_args(argv)

    reason = no_gpu_reason()
    if reason is not None:
        say(reason)
        return 1 if reason.startswith("FAIL") else 0
    nvcc = find_nvcc()
    if nvcc is None:
        say("FAIL: a GPU is present but nvcc is not found (install the CUDA toolkit or set CUDACXX)")
        return 1
    import torch

    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    major, minor = torch.cuda.get_device_capability()
    arch = f"{major}{minor}"
    props = torch.cuda.get_device_properties(0)
    say(f"{props.name}, sm_{arch}, {props.multi_processor_count} SMs; building runtime/ for sm_{arch}")
    lib = build(nvcc, arch, args.out)
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "host": platform.node(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "nvcc": nvcc,
        "nvcc_version": subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=False)
        .stdout.strip()
        .splitlines()[-1],
        "gpu": {
            "name": props.name,
            "arch": arch,
            "sms": props.multi_processor_count,
            "memory_gib": round(props.total_memory / 2**30, 1),
        },
        "build": f"ok ({lib.name}, sm_{arch})",
    }
    say("GPU tests")
    report["tests"] = (
        {"ok": None, "summary": "skipped (--skip-tests)"} if args.skip_tests else gpu_tests(lib, args.out, args.quick)
    )
    say(f"GPU tests: {report['tests']['summary']}")
    say("compute-sanitizer")
    report["sanitizer"] = (
        {"ok": None, "note": "skipped (--skip-sanitizer)"}
        if args.skip_sanitizer
        else sanitizer(nvcc, lib, arch, args.out)
    )
    kern = Kernels(lib)
    say("timing one layer: v1, v2, cuDNN")
    report["layers"] = layer_table(kern, args.quick, major)
    say("timing the whole WNO")
    report["wno"] = whole_wno(kern, args.quick, major)
    report["seconds"] = time.monotonic() - t0
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    (args.out / "report.md").write_text(markdown(report))
    ok = report["tests"].get("ok") is not False and report["sanitizer"].get("ok") is not False
    say(f"{'ok' if ok else 'FAILED'} in {report['seconds']:.0f} s: {args.out / 'report.md'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
