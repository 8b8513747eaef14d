#!/usr/bin/env python3
"""clang-format over every C, C++ and CUDA file in runtime/ and examples/cpp/, in the one style of
runtime/.clang-format, with the clang-format pinned in pyproject.toml (the venv's pip package, else
the one on PATH). Generated files are listed in runtime/.clang-format-ignore.

    python tools/cpp_format.py           # reformat in place
    python tools/cpp_format.py --check   # exit 1 and name the files that differ
"""

from __future__ import annotations

import argparse
import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime"
EXAMPLES = ROOT / "examples" / "cpp"  # a consumer of the installed package, in the same style
STYLE = f"--style=file:{RUNTIME / '.clang-format'}"
SUFFIXES = {".h", ".c", ".cpp", ".cu", ".cuh"}


def clang_format() -> str | None:
    """The clang-format next to this Python (the venv's pip package), else the one on PATH."""
    beside = Path(sys.executable).parent / "clang-format"
    return str(beside) if beside.is_file() else shutil.which("clang-format")


def ignored() -> list[str]:
    lines = (RUNTIME / ".clang-format-ignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def cpp_files() -> list[Path]:
    files = [p for p in RUNTIME.rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    skip = ignored()
    kept = [p for p in files if not any(fnmatch.fnmatch(p.relative_to(RUNTIME).as_posix(), pat) for pat in skip)]
    return sorted(kept + [p for p in EXAMPLES.rglob("*") if p.suffix in SUFFIXES and p.is_file()])


def check(exe: str) -> tuple[list[str], str]:
    """(the files clang-format would change, its stderr)."""
    r = subprocess.run(
        [exe, STYLE, "--dry-run", "--Werror", *map(str, cpp_files())],
        capture_output=True,
        text=True,
        cwd=RUNTIME,
        check=False,
    )
    wrong = sorted({line.split(":")[0] for line in r.stderr.splitlines() if ": error:" in line})
    if r.returncode and not wrong:
        wrong = ["(clang-format failed)"]
    return wrong, r.stderr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is not formatted")
    args = ap.parse_args(argv)
    exe = clang_format()
    if exe is None:
        print("clang-format not found: pip install 'wno-edge[dev]' (it pins clang-format)", file=sys.stderr)
        return 1
    if not args.check:
        subprocess.run([exe, STYLE, "-i", *map(str, cpp_files())], check=True, cwd=RUNTIME)
        return 0
    wrong, _ = check(exe)
    for name in wrong:
        print(f"{name}: not clang-formatted (run: make format)", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
