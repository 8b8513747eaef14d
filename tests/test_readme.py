"""The README's examples run as written (issue 13, item 11).

Every ```python block right after a `<!-- test: run -->` line in README.md is run as a
script in an empty directory; until the README marks a block, there is nothing to run.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- test: run -->"


def marked_blocks(text: str) -> list[str]:
    return re.findall(re.escape(MARKER) + r"\s*\n```python\n(.*?)\n```", text, flags=re.S)


def test_marked_blocks_are_found():
    text = f"intro\n{MARKER}\n```python\nprint(1)\n```\n```python\nprint(2)\n```\n"
    assert marked_blocks(text) == ["print(1)"]


BLOCKS = marked_blocks(README.read_text())


@pytest.mark.skipif(not BLOCKS, reason=f"README.md marks no block with {MARKER}")
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
