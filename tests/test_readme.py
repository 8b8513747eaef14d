"""The README's examples run as written (issue 13, item 11).

Every ```python block right after a `<!-- test: run -->` line in README.md is run as a
script, and every ```sh block after one as a bash script (-e: the first failing command
fails it, with this environment's `wno-edge` and `python` first on PATH). Each runs in an
empty directory that links the checkout's models/ and examples/, as from the checkout's
root; until the README marks a block, there is nothing to run.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = "<!-- test: run -->"


def marked_blocks(text: str, language: str = "python") -> list[str]:
    return re.findall(re.escape(MARKER) + r"\s*\n```" + language + r"\n(.*?)\n```", text, flags=re.S)


def test_marked_blocks_are_found():
    text = f"intro\n{MARKER}\n```python\nprint(1)\n```\n```python\nprint(2)\n```\n{MARKER}\n```sh\necho 3\n```\n"
    assert marked_blocks(text) == ["print(1)"]
    assert marked_blocks(text, "sh") == ["echo 3"]


def checkout_like(tmp_path: Path) -> Path:
    for name in ("models", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


BLOCKS = marked_blocks(README.read_text())
SHELL_BLOCKS = marked_blocks(README.read_text(), "sh")


@pytest.mark.skipif(not BLOCKS, reason=f"README.md marks no block with {MARKER}")
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]], cwd=checkout_like(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.skipif(not SHELL_BLOCKS, reason=f"README.md marks no sh block with {MARKER}")
@pytest.mark.parametrize("index", range(len(SHELL_BLOCKS)))
def test_readme_commands_run(index, tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    out = subprocess.run(
        ["bash", "-e", "-c", SHELL_BLOCKS[index]],
        cwd=checkout_like(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
