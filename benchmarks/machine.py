"""What the benchmarks run on: CPU model, the ISA the engine picked, and a measured FP32 FMA peak.

The peak comes from a tiny C probe built at run time with the system compiler for the engine's
ISA (avx512: -mavx512f, avx2: -mavx2 -mfma, otherwise the compiler's baseline, which is NEON on
aarch64): twelve independent multiply-add chains per thread (enough to cover the FMA latency of
two pipes), so it measures throughput, not latency. The best of three runs is the peak.
The same probe in timed rounds (`FmaProbe.jitter`) gives the machine's own p99/p50 for a fixed
amount of work (no memory traffic, no pool but a spinning join each round): the floor under any
engine's jitter figure on this machine, such as a shared VM's stolen time.

`cap_peers()` follows $WNO_CPU_ISA=avx2 (the engine's AVX2 path on an AVX-512 machine) by capping
OpenVINO's oneDNN to AVX2 too (ONEDNN_MAX_CPU_ISA, read when oneDNN first dispatches, so call it
first; children inherit it, and PyTorch's oneDNN convs read it too); ONNX Runtime has no such switch.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

PROBE = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef float V __attribute__((vector_size(VBYTES)));
static long iters;
static float seed; /* from argv: constants would let the compiler fold the chains */
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static void* chains(void* out) {
  V a = (V){0} + seed, b = (V){0} + (1.0f - seed);
  V c0 = b, c1 = b + 1, c2 = b + 2, c3 = b + 3, c4 = b + 4, c5 = b + 5;
  V c6 = b + 6, c7 = b + 7, c8 = b + 8, c9 = b + 9, c10 = b + 10, c11 = b + 11;
  for (long i = 0; i < iters; ++i) {
    c0 = c0 * a + b; c1 = c1 * a + b; c2 = c2 * a + b; c3 = c3 * a + b; c4 = c4 * a + b; c5 = c5 * a + b;
    c6 = c6 * a + b; c7 = c7 * a + b; c8 = c8 * a + b; c9 = c9 * a + b; c10 = c10 * a + b; c11 = c11 * a + b;
  }
  V s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
  *(float*)out = s[0];
  return 0;
}
/* Jitter mode (argv[4] = rounds): each round every thread runs `iters` (helpers spin between
   rounds, as a pool's do); prints the p50 and p99 round time in ms. */
static int go_round, done_count; /* read and written through __atomic builtins */
static int rounds;
static void* helper(void* out) {
  for (int r = 1; r <= rounds; ++r) {
    while (__atomic_load_n(&go_round, __ATOMIC_ACQUIRE) < r) {}
    chains(out);
    __atomic_fetch_add(&done_count, 1, __ATOMIC_RELEASE);
  }
  return 0;
}
static int by_value(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}
static int jitter(int threads) {
  pthread_t tid[256];
  float sink[256];
  double* t = malloc(sizeof(double) * rounds);
  if (!t) return 2;
  for (int i = 1; i < threads; ++i) pthread_create(&tid[i], 0, helper, &sink[i]);
  for (int r = 1; r <= rounds; ++r) {
    double t0 = now();
    __atomic_store_n(&go_round, r, __ATOMIC_RELEASE);
    chains(&sink[0]);
    while (__atomic_load_n(&done_count, __ATOMIC_ACQUIRE) < r * (threads - 1)) {}
    t[r - 1] = now() - t0;
  }
  for (int i = 1; i < threads; ++i) pthread_join(tid[i], 0);
  qsort(t, rounds, sizeof(double), by_value);
  printf("%.4f %.4f %g\n", 1e3 * t[rounds / 2], 1e3 * t[(rounds * 99) / 100], sink[0]);
  free(t);
  return 0;
}
int main(int argc, char** argv) {
  int threads = atoi(argv[1]);
  iters = atol(argv[2]);
  seed = (float)atof(argv[3]);
  rounds = argc > 4 ? atoi(argv[4]) : 0;
  pthread_t tid[256];
  float sink[256];
  if (threads < 1 || threads > 256) return 2;
  if (rounds > 0) return jitter(threads);
  double t0 = now();
  for (int i = 0; i < threads; ++i) pthread_create(&tid[i], 0, chains, &sink[i]);
  for (int i = 0; i < threads; ++i) pthread_join(tid[i], 0);
  printf("%.3f %g\n", 24.0 * (VBYTES / 4) * iters * threads / (now() - t0) / 1e9, sink[0]);
  return 0;
}
"""

# The engine's ISA -> (compiler flags, vector bytes).
ISA_FLAGS = {"avx512": (["-mavx512f", "-mfma"], 64), "avx2": (["-mavx2", "-mfma"], 32)}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def engine_isa(lib: Path | None) -> str:
    """The loops libwno_engine.so picked on this CPU (after $WNO_CPU_ISA), or why it is unknown."""
    if lib is None:
        return "unknown (the native engine is not built)"
    engine = ctypes.CDLL(os.fspath(lib))
    engine.wno_engine_isa.restype = ctypes.c_char_p
    return str(engine.wno_engine_isa().decode())


def cap_peers(capped: str = "OpenVINO", uncapped: str = "ONNX Runtime") -> list[str]:
    """Cap the oneDNN-based peers to the engine's AVX2 path when the user asked for it (before
    their first primitive reads the cap); lines that say so."""
    if os.environ.get("WNO_CPU_ISA", "").lower() != "avx2":
        return []
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
    return [
        f"WNO_CPU_ISA=avx2: {capped} capped too (ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']}, which "
        f"PyTorch's oneDNN convs also read); not cappable, at their best ISA: {uncapped}"
    ]


def describe(lib: Path | None) -> str:
    return f"CPU {cpu_model()} ({platform.machine()}, {os.cpu_count()} CPUs); engine ISA {engine_isa(lib)}"


class FmaProbe:
    """The C probe built for `isa`; peak(threads) in GFLOP/s (FP32, 2 FLOP per FMA lane)."""

    def __init__(self, isa: str) -> None:
        flags, vbytes = ISA_FLAGS.get(isa, ([], 16))
        self.what = f"{vbytes * 8}-bit vectors ({' '.join(flags) or 'compiler baseline'})"
        compiler = shutil.which(os.environ.get("CC", "cc"))
        if compiler is None:
            raise RuntimeError("no C compiler (cc) to build the FMA probe")
        self._dir = tempfile.TemporaryDirectory()
        self.exe = Path(self._dir.name) / "fma_probe"
        src = self.exe.with_suffix(".c")
        src.write_text(PROBE)
        cmd = [compiler, "-O2", *flags, f"-DVBYTES={vbytes}", "-pthread", str(src), "-o", str(self.exe)]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"the FMA probe did not build: {(r.stderr.strip().splitlines() or ['?'])[0]}")
        # About 0.1 s a run at one thread, from a short calibration run.
        self.iters = max(10_000, int(self._run(1, 200_000) * 1e9 * 0.1 / (24 * vbytes / 4)))

    def _call(self, threads: int, iters: int, *rounds: int) -> list[float]:
        """The numbers the probe prints: GFLOP/s, or with `rounds` the p50 and p99 round ms."""
        cmd = [str(self.exe), str(threads), str(iters), "0.9999", *map(str, rounds)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"the FMA probe failed (exit {out.returncode})")
        return [float(v) for v in out.stdout.split()]

    def _run(self, threads: int, iters: int) -> float:
        return self._call(threads, iters)[0]

    def peak(self, threads: int) -> float:
        return max(self._run(threads, self.iters) for _ in range(3))

    def jitter(self, threads: int, ms: float, rounds: int) -> tuple[float, float]:
        """(p50, p99) ms of `rounds` rounds of about `ms` of FMAs on each of `threads` threads."""
        iters = max(1, int(self.iters * ms / 100))  # self.iters: about 100 ms on one thread
        p50, _ = self._rounds(threads, iters, 50)  # scaled on a short run (warm, in rounds)
        return self._rounds(threads, max(1, int(iters * ms / p50)), rounds)

    def _rounds(self, threads: int, iters: int, rounds: int) -> tuple[float, float]:
        p50, p99 = self._call(threads, iters, rounds)[:2]
        return p50, p99

    def close(self) -> None:
        self._dir.cleanup()


def measured_peaks(isa: str, thread_counts: list[int]) -> tuple[dict[int, float], str]:
    """{threads: GFLOP/s} and a line that states them, or ({}, why not)."""
    try:
        probe = FmaProbe(isa)
    except RuntimeError as e:
        return {}, f"FMA peak not measured: {e}"
    notes = []
    try:
        one = probe.peak(1)
        peaks = {}
        for t in sorted(set(thread_counts)):
            peaks[t] = one if t == 1 else probe.peak(t)
            # Several threads below 0.9 t x one thread: a core was busy (a VM's neighbour) while
            # the probe ran. Retry; if it stays low, count t x one thread, the larger peak: a low
            # peak would overstate every engine's share of it.
            for _ in range(3 if 1 < t <= (os.cpu_count() or 1) else 0):
                if peaks[t] >= 0.9 * t * one:
                    break
                peaks[t] = max(peaks[t], probe.peak(t))
            if 1 < t <= (os.cpu_count() or 1) and peaks[t] < 0.9 * t * one:
                notes.append(f"{t} threads measured {peaks[t]:.1f}, counted as {t} x 1 thread")
                peaks[t] = t * one
    except RuntimeError as e:
        return {}, f"FMA peak not measured: {e}"
    finally:
        probe.close()
    text = ", ".join(f"{t} thread{'s' if t > 1 else ''} {p:.1f} GFLOP/s" for t, p in peaks.items())
    note = f" ({'; '.join(notes)}: another load had a core)" if notes else ""
    return peaks, f"measured FP32 FMA peak ({probe.what}, 12 chains a thread, best of 3): {text}{note}"
