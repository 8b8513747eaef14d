"""runtime/include/wno/winograd_transforms.h is generated from wno_edge.winograd.MATRICES, and
runtime/include/wno/contract.h from wno_edge/contract.py (tools/gen_headers.py): both must be
current, the transforms must compute exactly those matrices, and C++ must read back the
contract's values unchanged."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from wno_edge.winograd import MATRICES

ROOT = Path(__file__).resolve().parents[1]
HEADER = ROOT / "runtime" / "include" / "wno" / "winograd_transforms.h"
CXX = shutil.which("g++") or shutil.which("c++")


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_headers", ROOT / "tools" / "gen_headers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_header_is_current():
    assert HEADER.read_text() == load_generator().generate(), (
        "winograd_transforms.h is stale: run python tools/gen_headers.py"
    )


def test_literals_are_exact_float32_values():
    literals = re.findall(r"(?<![\w.])(\d+\.\d*(?:e[-+]?\d+)?)f\b", HEADER.read_text())
    entries = {
        np.float32(abs(v))
        for mats in MATRICES.values()
        for M in (mats.BT, mats.G, mats.AT)
        for v in M.ravel()
        if v != 0
    }
    assert literals
    for lit in literals:
        value = np.float32(lit)
        assert str(value) == lit, lit  # the shortest decimal that reads back as this float32
        assert value in entries, lit  # ... of a matrix entry


def test_zero_terms_are_skipped():
    body = HEADER.read_text()
    code = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("//"))
    assert not re.search(r"\b0\.0f\s*\*", code)
    assert "1.0f *" not in code  # +-1 factors are adds


PROBE = r"""
#include <cstdio>
#include "wno/winograd_tile.h"
// Prints each 1-D transform applied to unit vectors (its matrix, column by column), in
// double, then the 2-D transforms of one fixed pseudo-random tile.
template <int M> void dump() {
  constexpr int A = M + 2;
  double x[8], y[8];
  for (int j = 0; j < A; ++j) {
    for (int i = 0; i < A; ++i) x[i] = i == j;
    wno::Winograd<M>::input_1d(x, 1, y, 1);
    for (int i = 0; i < A; ++i) std::printf("BT %d %d %d %.17g\n", M, i, j, y[i]);
    wno::Winograd<M>::output_1d(x, 1, y, 1);
    for (int i = 0; i < M; ++i) std::printf("AT %d %d %d %.17g\n", M, i, j, y[i]);
  }
  for (int j = 0; j < 3; ++j) {
    for (int i = 0; i < 3; ++i) x[i] = i == j;
    wno::Winograd<M>::weight_1d(x, 1, y, 1);
    for (int i = 0; i < A; ++i) std::printf("G %d %d %d %.17g\n", M, i, j, y[i]);
  }
  double d[64], v[64], g[9], u[64], o[36];
  for (int i = 0; i < A * A; ++i) d[i] = ((i * 37) % 17) / 8.0 - 1.0;
  for (int i = 0; i < 9; ++i) g[i] = ((i * 13) % 7) / 4.0 - 0.75;
  wno::input_tile<M>(d, v);
  wno::weight_tile<M>(g, u);
  wno::output_tile<M>(d, o);
  for (int i = 0; i < A * A; ++i) std::printf("V %d %d 0 %.17g\n", M, i, v[i]);
  for (int i = 0; i < A * A; ++i) std::printf("U %d %d 0 %.17g\n", M, i, u[i]);
  for (int i = 0; i < M * M; ++i) std::printf("Y %d %d 0 %.17g\n", M, i, o[i]);
}
typedef float v8f __attribute__((vector_size(32)));
int main() {
  dump<2>(); dump<4>(); dump<6>();
  // The transforms also instantiate over float and GCC vector types (the CPU kernel's T).
  float f[64] = {}, fo[64]; v8f vf[64] = {}, vo[64];
  wno::input_tile<6>(f, fo); wno::output_tile<6>(vf, vo);
  return static_cast<int>(fo[0] + vo[0][0]);
}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    if CXX is None:
        pytest.skip("no C++ compiler")
    tmp = tmp_path_factory.mktemp("probe")
    (tmp / "probe.cpp").write_text(PROBE)
    exe = tmp / "probe"
    out = subprocess.run(
        [
            CXX,
            "-std=c++17",
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{ROOT / 'runtime' / 'include'}",
            str(tmp / "probe.cpp"),
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    values: dict = {}
    for line in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines():
        name, m, i, j, v = line.split()
        values[(name, int(m), int(i), int(j))] = float(v)
    return values


def matrix(values, name, m, shape):
    M = np.zeros(shape)
    for i in range(shape[0]):
        for j in range(shape[1]):
            M[i, j] = values[(name, m, i, j)]
    return M


@pytest.mark.parametrize("m", sorted(MATRICES))
def test_generated_code_computes_the_python_matrices(probe, m):
    mats = MATRICES[m]
    a = mats.a
    # Unit inputs pick single terms, so each entry is exactly the float32 literal.
    np.testing.assert_array_equal(matrix(probe, "BT", m, (a, a)), mats.BT.astype(np.float32))
    np.testing.assert_array_equal(matrix(probe, "G", m, (a, 3)), mats.G.astype(np.float32))
    np.testing.assert_array_equal(matrix(probe, "AT", m, (m, a)), mats.AT.astype(np.float32))


@pytest.mark.parametrize("m", sorted(MATRICES))
def test_tile_transforms(probe, m):
    mats = MATRICES[m]
    a = mats.a
    BT, G, AT = (M.astype(np.float32).astype(np.float64) for M in (mats.BT, mats.G, mats.AT))
    d = np.array([((i * 37) % 17) / 8.0 - 1.0 for i in range(a * a)]).reshape(a, a)
    g = np.array([((i * 13) % 7) / 4.0 - 0.75 for i in range(9)]).reshape(3, 3)
    got_v = np.array([probe[("V", m, i, 0)] for i in range(a * a)]).reshape(a, a)
    got_u = np.array([probe[("U", m, i, 0)] for i in range(a * a)]).reshape(a, a)
    got_y = np.array([probe[("Y", m, i, 0)] for i in range(m * m)]).reshape(m, m)
    np.testing.assert_allclose(got_v, BT @ d @ BT.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_u, G @ g @ G.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_y, AT @ d @ AT.T, rtol=0, atol=1e-12)


def test_generator_check_mode(tmp_path, monkeypatch):
    gen = load_generator()
    outputs = {tmp_path / "transforms.h": gen.generate, tmp_path / "contract.h": gen.generate_contract}
    monkeypatch.setattr(gen, "OUTPUTS", outputs)
    (tmp_path / "transforms.h").write_text("// old\n")
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0


def test_contract_header_is_current_and_compiles(tmp_path):
    """contract.h carries wno_edge.contract's values, and C++ reads them back unchanged."""
    from wno_edge import contract

    header = ROOT / "runtime" / "include" / "wno" / "contract.h"
    assert header.read_text() == load_generator().generate_contract(), (
        "contract.h is stale: run python tools/gen_headers.py"
    )
    if CXX is None:
        pytest.skip("no C++ compiler")
    probe = tmp_path / "probe.cpp"
    probe.write_text(
        '#include <cstdio>\n#include "wno/contract.h"\nusing namespace wno::contract;\n'
        "int main() {\n"
        '  std::printf("%s %s %d %s [%s]\\n", kOpDomain, kOpName, kOpVersion, kPluginVersion, kPluginNamespace);\n'
        '  for (int m = -1; m < 9; ++m) if (valid_tile(m)) std::printf("t%d ", m);\n'
        '  for (int p = -1; p < 3; ++p) if (valid_padding(p)) std::printf("p%d ", p);\n'
        '  std::printf("\\n%s\\n", kMetadataConfig);\n'
        '  std::printf("%d %d %d\\n", kMinOpset, kDefaultOpset, kMaxOpset);\n'
        '  std::printf("%s|%s|%s|%s|%s|%s|%s\\n", kConvWinograd, kConvDirect, kConvPointwise, kBatchDynamic,\n'
        "              kFp32, kFp16, kChecksumPrefix);\n"
        '  for (const char* op : kExportOps) std::printf("%s ", op);\n'
        '  std::printf("\\n");\n'
        '  for (const auto& row : kCombineComplex) std::printf("%g %g ", row[0], row[1]);\n'
        '  std::printf("\\n%s %s %s %s\\n", initializer::kLiftConstant, initializer::kCombineComplex,\n'
        "              initializer::layer_mixing(3).c_str(), initializer::layer_mlp_skip_weight(12).c_str());\n"
        '  std::printf("%d %d %d %d %d %.17g %.17g\\n", kMaxChannels, kMaxWidth, kMaxLayers, kMaxModes,\n'
        "              kMaxResolution, kMaxCoordinate, kMaxPaddingFraction);\n"
        '  std::printf("%d %d %d %d %d %d %d %d %s %s %d\\n", kDefaultWidth, kDefaultModes[0], kDefaultModes[1],\n'
        "              kDefaultNLayers, kDefaultWinogradTile, kDefaultDomainPadding, kDefaultProjectionWidth,\n"
        "              kDefaultRealSpaceKernel, kDefaultGridPoints, kDefaultBlock, kDefaultChannelMlpSkip);\n"
        "}\n"
    )
    exe = tmp_path / "probe"
    subprocess.run(
        [
            CXX,
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{ROOT / 'runtime' / 'include'}",
            str(probe),
            "-o",
            str(exe),
        ],
        check=True,
    )
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == (
        f"{contract.OP_DOMAIN} {contract.OP_NAME} {contract.OP_VERSION} "
        f"{contract.PLUGIN_VERSION} [{contract.PLUGIN_NAMESPACE}]"
    )
    assert lines[1].split() == [f"t{m}" for m in contract.TILES] + [f"p{p}" for p in contract.PADDINGS]
    assert lines[2] == contract.Metadata.CONFIG
    assert lines[3].split() == [str(v) for v in (contract.MIN_OPSET, contract.DEFAULT_OPSET, contract.MAX_OPSET)]
    c = contract
    assert lines[4].split("|") == [
        c.CONV_WINOGRAD,
        c.CONV_DIRECT,
        c.CONV_POINTWISE,
        c.BATCH_DYNAMIC,
        c.FP32,
        c.FP16,
        c.CHECKSUM_PREFIX,
    ]
    assert tuple(lines[5].split()) == c.EXPORT_OPS
    assert [float(v) for v in lines[6].split()] == [v for row in c.COMBINE_COMPLEX for v in row]
    init = c.Initializer
    assert lines[7].split() == [
        init.LIFT_CONSTANT,
        init.COMBINE_COMPLEX,
        init.LAYER_MIXING.format(i=3),
        init.LAYER_MLP_SKIP_WEIGHT.format(i=12),
    ]
    bounds = (c.MAX_CHANNELS, c.MAX_WIDTH, c.MAX_LAYERS, c.MAX_MODES, c.MAX_RESOLUTION)
    assert [float(v) for v in lines[8].split()] == [*bounds, c.MAX_COORDINATE, c.MAX_PADDING_FRACTION]
    d = c.config_default
    assert lines[9].split() == [
        str(v)
        for v in (
            d("width"),
            *d("modes"),
            d("n_layers"),
            d("winograd_tile"),
            d("domain_padding"),
            d("projection_width"),
            int(d("real_space_kernel")),
            d("grid_points"),
            d("block"),
            int(d("channel_mlp_skip")),
        )
    ]


def test_every_initializer_pattern_has_a_cpp_name():
    """Each contract.Initializer entry becomes one C++ constant or one function of the layer index."""
    from wno_edge import contract

    text = load_generator().generate_contract()
    for name, pattern in vars(contract.Initializer).items():
        if name.startswith("_"):
            continue
        if "{i}" in pattern:
            head, tail = pattern.split("{i}")
            assert f"inline std::string {name.lower()}(int i) {{" in text
            assert f'return "{head}" + std::to_string(i) + "{tail}";' in text
        else:
            assert f'[] = "{pattern}";' in text


def test_config_keys_and_limits_reach_cpp(tmp_path):
    """contract.h's config keys (WNOConfig's fields) and JSON limits are contract.py's: the C++
    reader refuses the same keys and the same sizes as the Python one."""
    import dataclasses

    from wno_edge import contract as c

    if CXX is None:
        pytest.skip("no C++ compiler")
    probe = tmp_path / "limits.cpp"
    probe.write_text(
        '#include <cstdio>\n#include "wno/contract.h"\nusing namespace wno::contract;\nint main() {\n'
        '  std::printf("%d %d %d %d\\n", kMaxConfigBytes, kMaxConfigDepth, kMaxConfigKeyBytes, kMaxConfigItems);\n'
        '  for (const char* key : kConfigKeys) std::printf("%s ", key);\n'
        "}\n"
    )
    exe = tmp_path / "limits"
    include = f"-I{ROOT / 'runtime' / 'include'}"
    subprocess.run([CXX, "-std=c++17", "-Wall", "-Wextra", "-Werror", include, str(probe), "-o", str(exe)], check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    limits = (c.MAX_CONFIG_BYTES, c.MAX_CONFIG_DEPTH, c.MAX_CONFIG_KEY_BYTES, c.MAX_CONFIG_ITEMS)
    assert lines[0].split() == [str(v) for v in limits]
    assert lines[1].split() == [f.name for f in dataclasses.fields(c.WNOConfig)]
