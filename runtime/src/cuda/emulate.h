#pragma once
// What the emulation's translation units share: the exported-symbol macro, the guard words
// behind each block's shared memory (an overrun changes them and fails the call), the host
// runner of a block's threads, and the 1-D path's entry points (emulate_grid_1d.cpp).
#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <type_traits>
#include <vector>

#include "wno/winograd.h"

namespace wno {
namespace cuda {
constexpr int kGuard = 64;  // words behind the shared memory

// A block's threads one after another inside each phase (between two barriers), in the
// order `mode` picks: 0 in order, 1 reversed, 2 shuffled with `seed`.
template <typename State>
struct HostRunner {
  std::vector<State> st;
  std::vector<int> order;

  HostRunner(int threads, int mode, unsigned seed) : st(threads), order(threads) {
    std::iota(order.begin(), order.end(), 0);
    if (mode == 1) std::reverse(order.begin(), order.end());
    if (mode == 2) std::shuffle(order.begin(), order.end(), std::mt19937(seed));
    for (State& s : st) std::memset(&s, 0, sizeof s);
  }

  template <typename F>
  void phase(F&& f) {
    for (int tid : order) f(tid, st[tid]);
  }
};

// f(std::integral_constant<int, m>{}) for the tile m of F(m, 3): 2, 4, else 6 (valid_desc
// checked it): one tile dispatch for every entry point of both units.
template <typename F>
auto by_tile(int tile, F&& f) {
  switch (tile) {
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    default:
      return f(std::integral_constant<int, 6>{});
  }
}

// Runs block(runner, bx, by, smem) for every block of a grid_x x grid_y grid, one after another,
// each on a fresh shared memory of smem_floats NaNs with guard words behind it, its threads in
// `order`; WNO_ERROR_INTERNAL when a block wrote past its shared memory.
template <typename State, typename F>
wno_status emulate_blocks(int grid_x, int grid_y, int threads, int smem_floats, int order,
                          F&& block) {
  std::vector<float> smem(static_cast<std::size_t>(smem_floats) + kGuard);
  const float nan = std::numeric_limits<float>::quiet_NaN(), guard = -12345.f;
  for (int by = 0; by < grid_y; ++by) {
    for (int bx = 0; bx < grid_x; ++bx) {
      std::fill(smem.begin(), smem.begin() + smem_floats, nan);
      std::fill(smem.begin() + smem_floats, smem.end(), guard);
      HostRunner<State> run(threads, order, static_cast<unsigned>(bx * 7919 + by));
      block(run, bx, by, smem.data());
      for (int i = smem_floats; i < smem_floats + kGuard; ++i)
        if (smem[static_cast<std::size_t>(i)] != guard) return WNO_ERROR_INTERNAL;
    }
  }
  return WNO_SUCCESS;
}

// Kernel v1 on a line (desc.dims == 1): the same contracts as the 2-D entry points.
void run_line_weights(const wno_conv_desc& d, wno_dtype dtype, const float* weight, void* out);
wno_status run_line_conv(const wno_conv_desc& d, wno_dtype dtype, const void* x, const void* u,
                         const float* bias, void* y, int order);
}  // namespace cuda
}  // namespace wno

#define WNO_EMU_API extern "C" __attribute__((visibility("default")))
