"""One config grammar in Python and C++: the exported config JSON (metadata wno_edge.config) is
read by wno_edge/runtime/onnx_metadata.py (read_config: every Python backend, `wno-edge info`)
and by the native engine (runtime/engine/config.cpp parse_config). Both must accept exactly the
same texts: strict RFC 8259 JSON within contract.py's MAX_CONFIG_* limits, then WNOConfig's
checks. CASES is the one list of texts, each with the answer RFC 8259 and WNOConfig give
(written out here, not computed by either reader); both readers must give it, with the same
values for an accepted text and a one-line message for a refused one."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_files import onnx_with_config
from native_build import ASAN_BUILD, BUILD, NATIVE_OPTIONS, RUNTIME, cmake_build, require_cmake

from wno_edge.contract import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_ITEMS, MAX_CONFIG_KEY_BYTES, WNOConfig
from wno_edge.errors import WNOEdgeError
from wno_edge.runtime.onnx_metadata import read_config

BASE = '"in_channels": 1, "out_channels": 2'
NEURALOP = WNOConfig(
    3,
    1,
    width=8,
    block="neuralop",
    lifting_width=16,
    channel_mlp_width=4,
    channel_mlp_skip=True,
    domain_padding=0,
    domain_padding_fraction=(0.125, 0.25),
    grid_domain=((-1.5, 2.0), (0.0, 6.283185307179586)),
    grid_points="left",
    real_space_kernel=False,
    resolution=(64, 48),
)
LINE = WNOConfig(1, 1, width=8, modes=(16,), resolution=(1024,))  # a 1-D model (modes has one value)
LINE_NEURALOP = WNOConfig(
    2,
    1,
    width=8,
    modes=(12,),
    block="neuralop",
    lifting_width=16,
    channel_mlp_width=4,
    domain_padding=0,
    domain_padding_fraction=(0.25,),
    grid_domain=((-1.0, 1.0),),
    grid_points="left",
    resolution=(256,),
)


def obj(*members: str) -> str:
    return "{" + ", ".join(members) + "}"


def with_base(*members: str) -> str:
    return obj(BASE, *members)


def nested(depth: int) -> str:
    """A config whose key "x" holds depth - 1 nested arrays (the object itself is level 1)."""
    return with_base('"x": ' + "[" * (depth - 1) + "]" * (depth - 1))


ACCEPTED, REFUSED = True, False
# (name, text (str or UTF-8 bytes), accepted)
CASES: list[tuple[str, str | bytes, bool]] = [
    # ---- valid JSON, valid config
    ("minimal", with_base(), ACCEPTED),
    ("default-model", json.dumps(WNOConfig(1, 2).to_dict()), ACCEPTED),
    ("neuralop-model", json.dumps(NEURALOP.to_dict()), ACCEPTED),
    ("every-key-indented", json.dumps(NEURALOP.to_dict(), indent="\t"), ACCEPTED),
    ("json-whitespace", " \t\r\n" + obj('"in_channels"\n:\r1', '"out_channels"\t: 2') + "\n\t ", ACCEPTED),
    ("escaped-key", obj('"in\\u005fchannels": 1', '"out_channels": 2'), ACCEPTED),
    ("escaped-value", with_base('"block": "neur\\u0061lop"'), ACCEPTED),
    ("escaped-grid-points", with_base('"grid_points": "c\\u0065nters"'), ACCEPTED),
    ("negative-zero", with_base('"domain_padding": -0'), ACCEPTED),
    ("resolution-null", with_base('"resolution": null'), ACCEPTED),
    ("resolution-pair", with_base('"resolution": [1, 65536]'), ACCEPTED),
    ("modes-bounds", with_base('"modes": [1, 4096]'), ACCEPTED),
    ("width-bound", with_base('"width": 4096'), ACCEPTED),
    ("tile-6", with_base('"winograd_tile": 6'), ACCEPTED),
    ("fraction-exponents", with_base('"domain_padding": 0', '"domain_padding_fraction": [1.25e-1, 0.5E0]'), ACCEPTED),
    ("fraction-integers", with_base('"domain_padding": 0', '"domain_padding_fraction": [0, 4]'), ACCEPTED),
    ("fraction-underflow", with_base('"domain_padding_fraction": [1e-400, 0e999999]'), ACCEPTED),
    ("fraction-negative-zero", with_base('"domain_padding_fraction": [-0.0, 0]'), ACCEPTED),
    ("grid-integers", with_base('"grid_domain": [[0, 1], [-1, 1000000000000]]'), ACCEPTED),
    ("grid-exponents", with_base('"grid_domain": [[1E+2, 2e2], [-1e12, -0.5]]', '"grid_points": "left"'), ACCEPTED),
    ("neuralop-mlp", with_base('"block": "neuralop"', '"channel_mlp_width": 4', '"channel_mlp_skip": true'), ACCEPTED),
    # 1-D models: one value per axis in modes, resolution, grid_domain, domain_padding_fraction
    ("line-model", json.dumps(LINE.to_dict()), ACCEPTED),
    ("line-neuralop-model", json.dumps(LINE_NEURALOP.to_dict()), ACCEPTED),
    ("line-minimal", with_base('"modes": [4096]'), ACCEPTED),
    ("line-keys-before-modes", with_base('"resolution": [8]', '"grid_domain": [[-1, 1]]', '"modes": [3]'), ACCEPTED),
    ("line-fraction", with_base('"domain_padding": 0', '"domain_padding_fraction": [0.5]', '"modes": [2]'), ACCEPTED),
    ("line-resolution-null", with_base('"modes": [2]', '"resolution": null'), ACCEPTED),
    # ---- numbers RFC 8259 refuses
    ("leading-zero", with_base('"width": 08'), REFUSED),
    ("double-zero", with_base('"width": 00'), REFUSED),
    ("negative-leading-zero", with_base('"domain_padding": -01'), REFUSED),
    ("leading-zero-fraction", with_base('"domain_padding_fraction": [01.5, 0]'), REFUSED),
    ("plus-sign", with_base('"width": +8'), REFUSED),
    ("bare-fraction", with_base('"domain_padding_fraction": [.5, 0]'), REFUSED),
    ("bare-point", with_base('"domain_padding_fraction": [1., 0]'), REFUSED),
    ("point-exponent", with_base('"domain_padding_fraction": [1.e1, 0]'), REFUSED),
    ("bare-exponent", with_base('"domain_padding_fraction": [1e, 0]'), REFUSED),
    ("hex", with_base('"width": 0x10'), REFUSED),
    ("minus-space", with_base('"width": - 8'), REFUSED),
    ("nan", with_base('"domain_padding_fraction": [NaN, 0]'), REFUSED),
    ("infinity", with_base('"domain_padding_fraction": [Infinity, 0]'), REFUSED),
    ("minus-infinity", with_base('"grid_domain": [[-Infinity, 0], [0, 1]]'), REFUSED),
    ("nan-as-int", with_base('"width": NaN'), REFUSED),
    # numbers the grammar bounds: finite doubles, integers in int64
    ("overflow-1e999", with_base('"domain_padding_fraction": [1e999, 0]'), REFUSED),
    ("overflow-negative", with_base('"grid_domain": [[-1e309, 0], [0, 1]]'), REFUSED),
    ("overflow-just", with_base('"grid_domain": [[0, 1.7976931348623159e308], [0, 1]]'), REFUSED),
    ("int64-max", with_base('"width": 9223372036854775807'), REFUSED),  # valid JSON, out of range
    ("int64-overflow", with_base('"width": 9223372036854775808'), REFUSED),
    ("int64-min", with_base('"domain_padding": -9223372036854775808'), REFUSED),
    ("huge-integer", with_base('"grid_domain": [[0, ' + "9" * 5000 + "], [0, 1]]"), REFUSED),
    # ---- structure
    ("trailing-comma-object", obj(BASE + ","), REFUSED),
    ("trailing-comma-array", with_base('"modes": [1, 2,]'), REFUSED),
    ("missing-comma", '{"in_channels": 1 "out_channels": 2}', REFUSED),
    ("single-quotes", "{'in_channels': 1, 'out_channels': 2}", REFUSED),
    ("unquoted-key", "{in_channels: 1, out_channels: 2}", REFUSED),
    ("comment", "{" + BASE + " // two\n}", REFUSED),
    ("extra-data", with_base() + " {}", REFUSED),
    ("nul-after", with_base() + "\0", REFUSED),
    ("empty", "", REFUSED),
    ("blank", " \n", REFUSED),
    ("null-document", "null", REFUSED),
    ("array-document", "[1, 2]", REFUSED),
    ("number-document", "1", REFUSED),
    ("string-document", '"in_channels"', REFUSED),
    ("unclosed", "{" + BASE, REFUSED),
    ("capital-true", with_base('"grid": True'), REFUSED),
    ("bom", "\ufeff" + with_base(), REFUSED),
    ("form-feed-whitespace", "{\f" + BASE + "}", REFUSED),
    ("nbsp-whitespace", "{\u00a0" + BASE + "}", REFUSED),
    # ---- duplicate keys (json.loads keeps the last: refused on both sides)
    ("duplicate-key", with_base('"width": 8', '"width": 8'), REFUSED),
    ("duplicate-after-escape", with_base('"width": 8', '"wid\\u0074h": 8'), REFUSED),
    ("duplicate-required", obj(BASE, '"in_channels": 1'), REFUSED),
    # ---- strings
    ("bad-escape-x", with_base('"grid_points": "\\x41"'), REFUSED),
    ("bad-escape-quote", with_base('"grid_points": "\\\'left"'), REFUSED),
    ("short-unicode-escape", with_base('"grid_points": "\\u12"'), REFUSED),
    ("capital-u-escape", with_base('"grid_points": "\\U0041"'), REFUSED),
    ("raw-tab", with_base('"grid_points": "le\tft"'), REFUSED),
    ("raw-newline", with_base('"grid_points": "le\nft"'), REFUSED),
    ("lone-high-surrogate", with_base('"grid_points": "\\ud800"'), REFUSED),
    ("lone-low-surrogate-key", obj(BASE, '"\\udc00": 1'), REFUSED),
    ("high-then-letter", with_base('"grid_points": "\\ud800\\u0041"'), REFUSED),
    ("surrogate-pair-unknown", obj(BASE, '"\\ud83d\\ude00": 1'), REFUSED),
    ("invalid-utf8", with_base('"grid_points": "').encode() + b'\xff"}', REFUSED),
    ("overlong-utf8", with_base('"grid_points": "').encode() + b'\xc0\xaf"}', REFUSED),
    ("utf8-surrogate", with_base('"grid_points": "').encode() + b'\xed\xa0\x80"}', REFUSED),
    ("utf8-beyond-unicode", with_base('"grid_points": "').encode() + b'\xf4\x90\x80\x80"}', REFUSED),
    ("truncated-utf8", with_base('"grid_points": "').encode() + b'\xe2\x82"}', REFUSED),
    ("utf8-key-unknown", obj(BASE, '"wïdth": 1').encode(), REFUSED),
    ("utf8-outside-string", with_base().encode()[:-1] + b"\xc3\xa9}", REFUSED),
    # ---- limits (contract.MAX_CONFIG_*)
    ("depth-100000", with_base('"x": ' + "[" * 100_000 + "]" * 100_000), REFUSED),
    ("depth-30000-within-size", nested(30_000), REFUSED),
    ("depth-over-limit", nested(MAX_CONFIG_DEPTH + 1), REFUSED),
    ("depth-at-limit", nested(MAX_CONFIG_DEPTH), REFUSED),  # an unknown key either way
    ("deep-in-a-string", with_base('"grid_points": "' + "[" * 40_000 + '"'), REFUSED),
    ("key-1-mib", obj(BASE, '"' + "k" * (1 << 20) + '": 1'), REFUSED),
    ("key-over-limit", obj(BASE, '"' + "k" * (MAX_CONFIG_KEY_BYTES + 1) + '": 1'), REFUSED),
    ("key-escapes-over-limit", obj(BASE, '"' + "\\u00e9" * (MAX_CONFIG_KEY_BYTES // 2 + 1) + '": 1'), REFUSED),
    ("too-many-elements", with_base('"modes": [' + ", ".join(["1"] * (MAX_CONFIG_ITEMS + 1)) + "]"), REFUSED),
    ("too-many-members", obj(BASE, *[f'"k{i}": 0' for i in range(MAX_CONFIG_ITEMS)]), REFUSED),
    ("padded-over-size", obj(BASE + " " * MAX_CONFIG_BYTES), REFUSED),
    ("padded-to-size", obj(BASE + " " * (MAX_CONFIG_BYTES - len(obj(BASE)))), ACCEPTED),
    # ---- WNOConfig's checks
    ("unknown-key", with_base('"attention": true'), REFUSED),
    ("missing-out", '{"in_channels": 1}', REFUSED),
    ("tile-3", with_base('"winograd_tile": 3'), REFUSED),
    ("tile-float", with_base('"winograd_tile": 4.0'), REFUSED),
    ("width-float", with_base('"width": 8.0'), REFUSED),
    ("width-exponent", with_base('"width": 8e0'), REFUSED),
    ("width-string", with_base('"width": "8"'), REFUSED),
    ("width-bool", with_base('"width": true'), REFUSED),
    ("width-null", with_base('"width": null'), REFUSED),
    ("width-over", with_base('"width": 4097'), REFUSED),
    ("width-zero", with_base('"width": 0'), REFUSED),
    ("modes-zero", with_base('"modes": [0, 1]'), REFUSED),
    ("modes-three", with_base('"modes": [1, 2, 3]'), REFUSED),
    ("modes-nested", with_base('"modes": [[1], [2]]'), REFUSED),
    ("modes-object", with_base('"modes": {"a": 1, "b": 2}'), REFUSED),
    ("modes-string", with_base('"modes": "ab"'), REFUSED),
    ("resolution-zero", with_base('"resolution": [0, 1]'), REFUSED),
    ("grid-reversed", with_base('"grid_domain": [[1, 0], [0, 1]]'), REFUSED),
    ("grid-one-axis", with_base('"grid_domain": [[0, 1]]'), REFUSED),
    ("grid-three-axes", with_base('"grid_domain": [[0, 1], [0, 1], [0, 1]]'), REFUSED),
    ("grid-too-far", with_base('"grid_domain": [[0, 1000000000001], [0, 1]]'), REFUSED),
    ("grid-bool", with_base('"grid_domain": [[0, true], [0, 1]]'), REFUSED),
    ("grid-null", with_base('"grid_domain": null'), REFUSED),
    ("grid-points-unknown", with_base('"grid_points": "middle"'), REFUSED),
    ("block-unknown", with_base('"block": "uno"'), REFUSED),
    ("block-null", with_base('"block": null'), REFUSED),
    ("mlp-without-neuralop", with_base('"channel_mlp_width": 4'), REFUSED),
    ("skip-without-mlp", with_base('"block": "neuralop"', '"channel_mlp_skip": true'), REFUSED),
    ("fraction-and-padding", with_base('"domain_padding_fraction": [0.5, 0]'), REFUSED),  # domain_padding 2
    ("fraction-over", with_base('"domain_padding": 0', '"domain_padding_fraction": [4.000000001, 0]'), REFUSED),
    ("fraction-negative", with_base('"domain_padding": 0', '"domain_padding_fraction": [-0.5, 0]'), REFUSED),
    ("fraction-one", with_base('"domain_padding": 0', '"domain_padding_fraction": [0.5]'), REFUSED),
    ("kernel-string", with_base('"real_space_kernel": "false"'), REFUSED),
    # 1-D: every per-axis key has the rank of modes (two values with one mode is refused)
    ("modes-empty", with_base('"modes": []'), REFUSED),
    ("modes-three-3d", with_base('"modes": [4, 4, 4]', '"resolution": [8, 8, 8]'), REFUSED),
    ("line-modes-zero", with_base('"modes": [0]'), REFUSED),
    ("line-modes-float", with_base('"modes": [4.0]'), REFUSED),
    ("line-resolution-pair", with_base('"modes": [4]', '"resolution": [64, 64]'), REFUSED),
    ("line-resolution-after", with_base('"resolution": [64, 64]', '"modes": [4]'), REFUSED),
    ("plane-resolution-one", with_base('"resolution": [64]'), REFUSED),  # modes absent: 2-D default
    ("plane-resolution-one-modes", with_base('"modes": [4, 4]', '"resolution": [64]'), REFUSED),
    ("line-grid-two-axes", with_base('"modes": [4]', '"grid_domain": [[0, 1], [0, 1]]'), REFUSED),
    ("line-grid-reversed", with_base('"modes": [4]', '"grid_domain": [[1, 0]]'), REFUSED),
    ("line-grid-flat", with_base('"modes": [4]', '"grid_domain": [0, 1]'), REFUSED),
    (
        "line-fraction-two",
        with_base('"modes": [4]', '"domain_padding": 0', '"domain_padding_fraction": [0, 0]'),
        REFUSED,
    ),
    ("line-fraction-and-padding", with_base('"modes": [4]', '"domain_padding_fraction": [0.5]'), REFUSED),
    ("line-fraction-over", with_base('"modes": [4]', '"domain_padding": 0', '"domain_padding_fraction": [5]'), REFUSED),
    ("line-fraction-empty", with_base('"modes": [4]', '"domain_padding": 0', '"domain_padding_fraction": []'), REFUSED),
    # 3-D: an FNO (real_space_kernel false), every per-axis key with three values
    (
        "volume-fno",
        with_base(
            '"modes": [2, 3, 4]',
            '"real_space_kernel": false',
            '"resolution": [8, 10, 12]',
            '"grid_domain": [[0, 1], [0, 2], [-1, 3]]',
            '"domain_padding": 0',
            '"domain_padding_fraction": [0.25, 0, 0.125]',
        ),
        ACCEPTED,
    ),
    ("volume-kernel-after", with_base('"modes": [4, 4, 4]', '"real_space_kernel": true'), REFUSED),
    (
        "volume-resolution-pair",
        with_base('"real_space_kernel": false', '"modes": [4, 4, 4]', '"resolution": [8, 8]'),
        REFUSED,
    ),
    (
        "volume-grid-two-axes",
        with_base('"modes": [4, 4, 4]', '"real_space_kernel": false', '"grid_domain": [[0, 1], [0, 2]]'),
        REFUSED,
    ),
    ("plane-resolution-three", with_base('"modes": [4, 4]', '"resolution": [8, 8, 8]'), REFUSED),
    ("modes-four", with_base('"modes": [4, 4, 4, 4]', '"real_space_kernel": false'), REFUSED),
]


def raw(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def python_reads(tmp_path: Path, text: str | bytes) -> tuple[WNOConfig | None, str]:
    """(config, "") or (None, the one-line refusal) from wno_edge.runtime.onnx_metadata.read_config."""
    path = onnx_with_config(tmp_path / "m.onnx", raw(text))
    try:
        return read_config(path), ""
    except WNOEdgeError as exc:
        return None, str(exc).replace(str(path), "<file>")


def build_probe(build: Path, options) -> Path:
    """runtime/tests/config_probe.cpp (CMake target wno_config_probe): parse_config on stdin."""
    require_cmake()
    if (build / "CMakeCache.txt").exists():  # make has no rule for a target added since configure
        subprocess.run([require_cmake(), "-S", str(RUNTIME), "-B", str(build), *options], capture_output=True)
    cmake_build(build, RUNTIME, options, ("wno_config_probe",))
    return build / "engine" / "wno_config_probe"


@pytest.fixture(scope="module")
def probe() -> Path:
    return build_probe(BUILD, NATIVE_OPTIONS)


def cpp_reads(probe: Path, texts: list[bytes]) -> list[tuple[list[str] | None, str, bool]]:
    """(fields, "", False) or (None, message, unsupported) per text, from the C++ parse_config."""
    stdin = b"".join(b"%d\n" % len(t) + t for t in texts)
    out = subprocess.run([str(probe)], input=stdin, capture_output=True, timeout=120, check=True).stdout
    results, pos = [], 0
    for _ in texts:
        end = out.index(b"\n", pos)
        head = out[pos:end].decode().split()
        pos = end + 1
        if head[0] == "OK":
            results.append((head[1:], "", False))
        else:
            n = int(head[2])
            results.append((None, out[pos : pos + n].decode("utf-8", "replace"), head[1] == "1"))
            pos += n + 1
    assert pos == len(out)
    return results


def fields_of(cfg: WNOConfig) -> list[str]:
    """The probe's OK line for a WNOConfig: what the C++ struct holds (a 1-D config's second
    per-axis fields are 0, a 3-D config's first two axes: its third is checked, not kept)."""

    def two(values, zero=0):
        kept = tuple(values)[:2]
        return (*kept, *(zero,) * (2 - len(kept)))

    r = two(cfg.resolution or (0, 0))
    ints = [
        cfg.in_channels,
        cfg.out_channels,
        cfg.width,
        cfg.rank,
        *two(cfg.modes),
        cfg.n_layers,
        cfg.winograd_tile,
        int(cfg.real_space_kernel),
        cfg.domain_padding,
        cfg.projection_width,
        int(cfg.grid),
        *r,
        int(cfg.block == "neuralop"),
        cfg.lifting_width,
        cfg.channel_mlp_width,
        int(cfg.channel_mlp_skip),
    ]
    return [str(v) for v in ints] + [f"{v:.17g}" for v in two(cfg.domain_padding_fraction, 0.0)]


def one_line(message: str) -> bool:
    return bool(message) and not any(c in message for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def test_cases_are_distinct():
    names = [name for name, _, _ in CASES]
    assert len(names) == len(set(names))
    assert len({raw(text) for _, text, _ in CASES}) == len(CASES)


def test_python_and_cpp_accept_exactly_the_same_texts(tmp_path, probe):
    cpp = cpp_reads(probe, [raw(text) for _, text, _ in CASES])
    wrong = []
    for (name, text, accepted), (cpp_fields, cpp_message, _) in zip(CASES, cpp, strict=True):
        cfg, py_message = python_reads(tmp_path, text)
        if (cfg is not None) != accepted or (cpp_fields is not None) != accepted:
            wrong.append(
                f"{name}: expected {'accept' if accepted else 'refuse'}; Python {py_message or 'accepts'}"
                f"; C++ {cpp_message or 'accepts'}"
            )
            continue
        if accepted:
            assert cfg is not None and cpp_fields == fields_of(cfg), name
        else:  # one line each, bounded whatever the text holds (a 1 MiB key, 10**5 brackets)
            assert one_line(py_message) and len(py_message) <= 400, (name, py_message[:1000])
            assert one_line(cpp_message) and len(cpp_message) <= 300, (name, cpp_message[:1000])
            assert cpp_message.isascii() and cpp_message.isprintable(), (name, cpp_message[:1000])
    assert not wrong, "\n".join(wrong)


def test_limits_are_the_contract_s_on_both_sides(tmp_path, probe):
    """Each limit refusal names the limit, in Python and in C++ (the same numbers: contract.h is
    generated from contract.py), and an unknown key or block is 'unsupported' to the engine."""
    cases = {
        "nested deeper than 16": nested(MAX_CONFIG_DEPTH + 1),
        "larger than 65536 bytes": obj(BASE + " " * MAX_CONFIG_BYTES),
        "longer than 256 bytes": obj(BASE, '"' + "k" * (MAX_CONFIG_KEY_BYTES + 1) + '": 1'),
        "more than 256 elements": with_base('"modes": [' + ", ".join(["1"] * (MAX_CONFIG_ITEMS + 1)) + "]"),
        "duplicate key": with_base('"width": 8', '"width": 8'),
        "out of range": with_base('"domain_padding_fraction": [1e999, 0]'),
        "surrogate": with_base('"grid_points": "\\ud800"'),
    }
    assert (MAX_CONFIG_DEPTH, MAX_CONFIG_BYTES, MAX_CONFIG_KEY_BYTES, MAX_CONFIG_ITEMS) == (16, 65536, 256, 256)
    cpp = cpp_reads(probe, [raw(t) for t in cases.values()])
    for (words, text), (_, cpp_message, unsupported) in zip(cases.items(), cpp, strict=True):
        _, py_message = python_reads(tmp_path, text)
        assert words in py_message and words in cpp_message and not unsupported, (words, py_message, cpp_message)
    newer = cpp_reads(probe, [raw(with_base('"attention": true')), raw(with_base('"block": "uno"'))])
    assert [u for _, _, u in newer] == [True, True]
    # brackets inside a string are not nesting: the refusal is grid_points', not the depth's
    in_string = with_base('"grid_points": "' + "[" * 40_000 + '"')
    (_, cpp_message, _), (_, py_message) = cpp_reads(probe, [raw(in_string)])[0], python_reads(tmp_path, in_string)
    assert "grid_points" in cpp_message and "grid_points" in py_message and "deeper" not in py_message


def test_no_recursion_error_in_a_fresh_interpreter(tmp_path):
    """10**5 nested brackets (inside the size limit: a 60 KiB text) are refused before json.loads
    recurses, whatever the interpreter's recursion limit."""
    path = onnx_with_config(tmp_path / "deep.onnx", raw(nested(30_000)))
    code = (
        "import sys; sys.setrecursionlimit(200)\n"
        "from wno_edge.runtime.onnx_metadata import read_config\n"
        "from wno_edge.errors import WNOEdgeError\n"
        f"try: read_config({str(path)!r})\n"
        "except WNOEdgeError as e: print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("refused:") and "nested deeper" in out.stdout, out.stderr


def mutations(count: int, seed: int) -> list[bytes]:
    """CASES' texts with a few random byte edits each: flips, cuts, JSON punctuation inserted."""
    rng = random.Random(seed)
    bases = [raw(text) for _, text, _ in CASES if len(raw(text)) < 2000]
    out = []
    for _ in range(count):
        b = bytearray(rng.choice(bases))
        for _ in range(rng.randrange(1, 4)):
            kind, at = rng.randrange(4), rng.randrange(len(b) + 1)
            if kind == 0 and at < len(b):
                b[at] = rng.randrange(256)
            elif kind == 1:
                del b[at : at + rng.randrange(1, 5)]
            elif kind == 2:
                b[at:at] = bytes(rng.choice(b'[]{}",:0123456789-+.eE\\u tfnl') for _ in range(rng.randrange(1, 6)))
            else:
                del b[at:]
        out.append(bytes(b))
    return out


def assert_agree(tmp_path: Path, probe: Path, texts: list[bytes]) -> None:
    """Python and C++ accept the same texts, with the same values; refusals are one line."""
    differ = []
    for text, (cpp_fields, cpp_message, _) in zip(texts, cpp_reads(probe, texts), strict=True):
        cfg, py_message = python_reads(tmp_path, text)
        if (cfg is None) != (cpp_fields is None) or (cfg is not None and fields_of(cfg) != cpp_fields):
            differ.append(f"{text[:200]!r}: Python {py_message or 'accepts'}; C++ {cpp_message or cpp_fields}")
        assert cfg is not None or one_line(py_message), py_message[:1000]
        assert cpp_fields is not None or one_line(cpp_message), cpp_message[:1000]
    assert not differ, f"{len(differ)} of {len(texts)} differ:\n" + "\n".join(differ[:10])


def test_mutated_texts_are_read_alike(tmp_path, probe):
    assert_agree(tmp_path, probe, mutations(400, seed=0))


@pytest.mark.heavy
def test_mutated_texts_are_read_alike_under_sanitizers(tmp_path, monkeypatch):
    """20000 mutations through parse_config built with AddressSanitizer + UBSan (any finding
    aborts the probe), and read alike by Python."""
    options = ("-DCMAKE_BUILD_TYPE=Release", "-DWNO_BUILD_CUDA=OFF", "-DWNO_SANITIZE=ON", "-DWNO_BUILD_TESTS=ON")
    try:
        sanitized = build_probe(ASAN_BUILD, options)
    except AssertionError as exc:
        if "asan" in str(exc).lower() and "cannot find" in str(exc).lower():
            pytest.skip("the compiler has no AddressSanitizer runtime")
        raise
    monkeypatch.setenv("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    assert_agree(tmp_path, sanitized, [raw(text) for _, text, _ in CASES] + mutations(20_000, seed=1))
