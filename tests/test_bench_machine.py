"""benchmarks/machine.py's C probe: the FMA peak, and the p99/p50 floor end_to_end.py prints."""

import importlib.util
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler for the probe")

spec = importlib.util.spec_from_file_location("machine", Path(__file__).parents[1] / "benchmarks" / "machine.py")
machine = importlib.util.module_from_spec(spec)
spec.loader.exec_module(machine)


def test_jitter_rounds_last_as_long_as_asked():
    probe = machine.FmaProbe("")  # the compiler's baseline vectors: builds on any machine
    try:
        assert probe.peak(1) > 0
        # calibrated on a short run of rounds: the median round near the time asked for
        p50, p99 = probe.jitter(1, 2.0, 200)
        assert 1.5 < p50 < 2.67 and p99 >= p50
        # two threads join each round; another process may hold a core, so only a lower bound
        p50, p99 = probe.jitter(2, 1.0, 200)
        assert p50 > 0.5 and p99 >= p50
    finally:
        probe.close()
