#!/usr/bin/env python3
"""What embedding wno_edge.runtime costs a control process: import time, and resident
memory after loading and running a model (ONNX Runtime backend, no torch).

    python benchmarks/runtime_footprint.py out/demo/darcy_wno.onnx

Each figure comes from a fresh interpreter, so nothing imported here is counted.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np
from wno_edge import runtime
t_import = time.perf_counter() - t0
rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
session = runtime.load(sys.argv[1], threads=2)
x = np.random.default_rng(0).random(session.input_shape, dtype=np.float32)
out = np.empty(session.output_shape, np.float32)
session.run(x, out=out)
t_first = time.perf_counter() - t0
for _ in range(100):
    session.run(x, out=out)
print(json.dumps({
    "import_ms": 1e3 * t_import, "load_and_first_run_ms": 1e3 * t_first,
    "peak_rss_after_import_mib": rss_import,
    "peak_rss_after_100_runs_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "torch_imported": "torch" in sys.modules,
}))
"""


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", PROBE, sys.argv[1]], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    ]
    median = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0] if k != "torch_imported"}
    for key, value in median.items():
        print(f"{key:30s} {value:10.1f}")
    print(f"{'torch_imported':30s} {any(r['torch_imported'] for r in runs)!s:>10s}")
    print("(medians of 5 fresh processes)")


if __name__ == "__main__":
    main()
