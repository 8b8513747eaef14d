// Self-checking driver: the CPU kernel and the emulated CUDA kernel against a direct
// float64 convolution, over fixed and pseudo-random shapes. Built with
// -DWNO_SANITIZE=ON it runs both under AddressSanitizer and UBSan, which see every
// out-of-bounds access to x, y and the weights that a test of the values could miss.
//
//   wno_conv_check cpu    # the CPU kernel (ISA from $WNO_CPU_ISA), 1 and 3 threads, 2-D and 1-D
//   wno_conv_check emu    # the CUDA kernels' block code (v1, v2), float32 and float16 storage
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "wno/winograd.h"

extern "C" {
size_t wno_emu_weight_size(const wno_conv_desc*, wno_dtype);
wno_status wno_emu_transform_weights(const wno_conv_desc*, wno_dtype, const float*, void*);
wno_status wno_emu_conv2d(const wno_conv_desc*, wno_dtype, const void*, const void*, const float*,
                          void*, int);
void wno_emu_float_to_half(const float*, std::uint16_t*, size_t);
void wno_emu_half_to_float(const std::uint16_t*, float*, size_t);
size_t wno_emu_v2_weight_size(const wno_conv_desc*, wno_dtype);
wno_status wno_emu_v2_transform_weights(const wno_conv_desc*, wno_dtype, const float*, void*);
wno_status wno_emu_v2_conv2d(const wno_conv_desc*, wno_dtype, int, const void*, const void*,
                             const float*, void*, int order, int block_k, int pipeline);
}

namespace {

struct Rng {  // xorshift: the same shapes and data on every machine
  std::uint64_t s = 88172645463325252ull;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  int below(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
  float normal() {
    double u = 0;
    for (int i = 0; i < 12; ++i) u += (next() >> 11) * (1.0 / 9007199254740992.0);
    return static_cast<float>(u - 6.0);
  }
};

// dims 1: a line (height 1, weight K,C,3), padded on the width only.
std::vector<double> direct(const wno_conv_desc& d, const std::vector<float>& x,
                           const std::vector<float>& w, const std::vector<float>& b) {
  const bool line = d.dims == 1;
  const int rows = line ? 1 : 3, pad_y = line ? 0 : d.padding;
  const int ho = d.height + 2 * pad_y - rows + 1, wo = d.width + 2 * d.padding - 2;
  std::vector<double> y(static_cast<size_t>(d.batch) * d.out_channels * ho * wo);
  for (int n = 0; n < d.batch; ++n)
    for (int k = 0; k < d.out_channels; ++k)
      for (int oy = 0; oy < ho; ++oy)
        for (int ox = 0; ox < wo; ++ox) {
          double acc = b[k];
          for (int c = 0; c < d.in_channels; ++c)
            for (int i = 0; i < rows; ++i)
              for (int j = 0; j < 3; ++j) {
                const int yy = oy + i - pad_y, xx = ox + j - d.padding;
                if (yy < 0 || yy >= d.height || xx < 0 || xx >= d.width) continue;
                acc +=
                    static_cast<double>(
                        x[((static_cast<size_t>(n) * d.in_channels + c) * d.height + yy) * d.width +
                          xx]) *
                    w[((static_cast<size_t>(k) * d.in_channels + c) * rows + i) * 3 + j];
              }
          y[((static_cast<size_t>(n) * d.out_channels + k) * ho + oy) * wo + ox] = acc;
        }
  return y;
}

double rel_error(const std::vector<float>& y, const std::vector<double>& ref) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (!std::isfinite(y[i])) return INFINITY;
    err = std::fmax(err, std::fabs(y[i] - ref[i]));
    scale = std::fmax(scale, std::fabs(ref[i]));
  }
  return err / scale;
}

int failures = 0, checks = 0;

void expect(bool ok, const char* what, const wno_conv_desc& d, double err) {
  ++checks;
  if (ok) return;
  ++failures;
  std::printf("FAIL %s n%d c%d k%d %dx%d pad%d tile%d dims%d: error %.3g\n", what, d.batch,
              d.in_channels, d.out_channels, d.height, d.width, d.padding, d.tile, d.dims, err);
}

void check_cpu(const wno_conv_desc& d, const std::vector<float>& x, const std::vector<float>& w,
               const std::vector<float>& b, const std::vector<double>& ref, double tol) {
  std::vector<char> u(wno_cpu_weight_size(&d));
  expect(wno_cpu_transform_weights(&d, w.data(), u.data(), u.size()) == WNO_SUCCESS, "cpu weights",
         d, 0);
  for (int threads : {1, 3}) {
    std::vector<float> y(ref.size(), NAN);
    std::vector<char> ws(wno_cpu_workspace_size(&d, threads));
    const wno_status st =
        wno_cpu_conv2d(&d, x.data(), u.data(), b.data(), y.data(), ws.data(), ws.size(), threads);
    const double err = st == WNO_SUCCESS ? rel_error(y, ref) : INFINITY;
    expect(err <= tol, "cpu", d, err);
  }
}

void check_emu(const wno_conv_desc& d, const std::vector<float>& x, const std::vector<float>& w,
               const std::vector<float>& b, const std::vector<double>& ref, double tol) {
  std::vector<char> u(wno_emu_weight_size(&d, WNO_FLOAT32));
  wno_emu_transform_weights(&d, WNO_FLOAT32, w.data(), u.data());
  std::vector<float> y(ref.size(), NAN);
  wno_status st = wno_emu_conv2d(&d, WNO_FLOAT32, x.data(), u.data(), b.data(), y.data(), 2);
  double err = st == WNO_SUCCESS ? rel_error(y, ref) : INFINITY;
  expect(err <= tol, "emu fp32", d, err);
  // float16 storage: the reference of the rounded input, a float16-sized tolerance.
  std::vector<std::uint16_t> xh(x.size()), yh(ref.size());
  std::vector<float> xr(x.size()), yr(ref.size());
  wno_emu_float_to_half(x.data(), xh.data(), x.size());
  wno_emu_half_to_float(xh.data(), xr.data(), x.size());
  std::vector<char> uh(wno_emu_weight_size(&d, WNO_FLOAT16));
  wno_emu_transform_weights(&d, WNO_FLOAT16, w.data(), uh.data());
  st = wno_emu_conv2d(&d, WNO_FLOAT16, xh.data(), uh.data(), b.data(), yh.data(), 0);
  wno_emu_half_to_float(yh.data(), yr.data(), yr.size());
  const std::vector<double> ref_half = direct(d, xr, w, b);
  const double tol_half = d.tile == 2 ? 2e-3 : d.tile == 4 ? 6e-3 : 3e-2;
  err = st == WNO_SUCCESS ? rel_error(yr, ref_half) : INFINITY;
  expect(err <= tol_half, "emu fp16", d, err);
  // Kernel v2 (tensor cores, warp-level MMA through the model): float32 as 3xTF32, float16;
  // 32 and 64 out channels per block; the cp.async pipeline (1) for F(2,3) and F(4,3).
  std::vector<char> u2(wno_emu_v2_weight_size(&d, WNO_FLOAT32));
  wno_emu_v2_transform_weights(&d, WNO_FLOAT32, w.data(), u2.data());
  std::vector<char> u2h(wno_emu_v2_weight_size(&d, WNO_FLOAT16));
  wno_emu_v2_transform_weights(&d, WNO_FLOAT16, w.data(), u2h.data());
  for (int pipeline = 0; pipeline < (d.tile <= 4 ? 2 : 1); ++pipeline) {
    for (int block_k : {32, 64}) {
      std::fill(y.begin(), y.end(), NAN);
      st = wno_emu_v2_conv2d(&d, WNO_FLOAT32, 0, x.data(), u2.data(), b.data(), y.data(), 2,
                             block_k, pipeline);
      err = st == WNO_SUCCESS ? rel_error(y, ref) : INFINITY;
      expect(err <= tol, pipeline ? "emu v2 async fp32" : "emu v2 fp32", d, err);
      st = wno_emu_v2_conv2d(&d, WNO_FLOAT16, 0, xh.data(), u2h.data(), b.data(), yh.data(), 1,
                             block_k, pipeline);
      wno_emu_half_to_float(yh.data(), yr.data(), yr.size());
      err = st == WNO_SUCCESS ? rel_error(yr, ref_half) : INFINITY;
      expect(err <= tol_half, pipeline ? "emu v2 async fp16" : "emu v2 fp16", d, err);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool cpu = argc > 1 && std::strcmp(argv[1], "cpu") == 0;
  const bool emu = argc > 1 && std::strcmp(argv[1], "emu") == 0;
  if (!cpu && !emu) {
    std::fprintf(stderr, "usage: %s cpu|emu\n", argv[0]);
    return 2;
  }
  std::vector<wno_conv_desc> shapes = {
      {1, 1, 1, 1, 1, 1, 0, 2},     {1, 3, 5, 7, 9, 1, 0, 2},     {2, 9, 17, 13, 20, 0, 0, 2},
      {1, 20, 20, 32, 32, 1, 0, 2}, {3, 13, 33, 61, 45, 1, 0, 2}, {1, 40, 40, 20, 26, 1, 0, 2},
      {2, 5, 7, 3, 40, 0, 0, 2},    {1, 2, 3, 40, 3, 1, 0, 2},    {1, 4, 4, 2, 70, 1, 0, 2}};
  Rng rng;
  for (int i = 0; i < 12; ++i)
    shapes.push_back({1 + rng.below(3), 1 + rng.below(24), 1 + rng.below(40), 3 + rng.below(30),
                      3 + rng.below(30), rng.below(2), 0, 2});
  // Lines (dims 1), CPU only so far: one output, many lines a block, several blocks a line.
  if (cpu) {
    for (const wno_conv_desc& d : {wno_conv_desc{1, 1, 1, 1, 1, 1, 0, 1},
                                   {9, 3, 9, 1, 4, 0, 0, 1},
                                   {2, 13, 11, 1, 38, 1, 0, 1},
                                   {1, 20, 7, 1, 700, 1, 0, 1}})
      shapes.push_back(d);
    for (int i = 0; i < 6; ++i)
      shapes.push_back({1 + rng.below(5), 1 + rng.below(24), 1 + rng.below(40), 1,
                        3 + rng.below(300), rng.below(2), 0, 1});
  }
  for (wno_conv_desc d : shapes) {
    for (int tile : {2, 4, 6}) {
      d.tile = tile;
      std::vector<float> x(static_cast<size_t>(d.batch) * d.in_channels * d.height * d.width);
      std::vector<float> w((d.dims == 1 ? 3ul : 9ul) * d.out_channels * d.in_channels);
      std::vector<float> b(d.out_channels);
      for (float& v : x) v = rng.normal();
      for (float& v : w) v = rng.normal();
      for (float& v : b) v = rng.normal();
      const std::vector<double> ref = direct(d, x, w, b);
      const double tol = tile == 2 ? 2e-6 : tile == 4 ? 1e-5 : 4e-5;
      if (cpu) check_cpu(d, x, w, b, ref, tol);
      if (emu) check_emu(d, x, w, b, ref, tol);
    }
  }
  std::printf("%s: %d checks, %d failed%s%s\n", argv[1], checks, failures, cpu ? ", isa " : "",
              cpu ? wno_cpu_isa() : "");
  return failures ? 1 : 0;
}
