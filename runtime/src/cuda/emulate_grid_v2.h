// Host emulation of kernel v2 (tensor cores), shared by emulate_grid_v2*.cpp.
// The block code of conv_block_v2.h over an emulated grid. Within a barrier interval the
// units are the threads (each running its parts of the interval in program order) and
// the warps (whose MMA parts run as one, through mma.h's model of mma.sync); order 1
// runs the units in reverse, order 2 shuffled, threads and warps interleaved.
// cp.async is modelled per thread: a copy lands only at the wait_group that covers it,
// and its destination reads NaN until then, so a read before the wait poisons the output.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "conv_block_v2_async.h"
#include "emulate.h"

namespace wno {
namespace cuda {
namespace emu {

constexpr std::uint32_t kPoison = 0x7fc07fc0u;  // NaN as one float and as two halves
constexpr std::uint32_t kGuardWord = 0xdeadbeefu;

template <int M, class Math, int MF>
struct HostRunnerV2 {
  using St = v2::ThreadState<M, Math, MF>;
  using B = v2::Block<M, Math, MF>;
  struct Warp {
    static constexpr int L = 32;
    St* st;
    int lane(int s) const { return s; }
    St& state(int s) { return st[s]; }
  };
  struct Copy {
    unsigned char* dst;
    const unsigned char* src;
    int bytes, group;
  };
  std::vector<St> st;
  std::vector<std::function<void(int)>> thread_parts, warp_parts;
  std::vector<std::vector<Copy>> copies;  // per thread, in flight
  std::vector<int> committed;             // per thread: groups committed so far
  bool misaligned = false;
  int mode;
  std::mt19937 rng;

  HostRunnerV2(int order, unsigned seed)
      : st(B::threads), copies(B::threads), committed(B::threads), mode(order), rng(seed) {
    // Registers start as NaN: a value used before the kernel sets it poisons the output.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (St& s : st) {
      float* f = reinterpret_cast<float*>(&s);
      std::fill(f, f + sizeof(St) / sizeof(float), nan);
    }
  }
  template <typename F>
  void threads(F f) {
    thread_parts.emplace_back([this, f](int tid) { f(tid, st[tid]); });
  }
  template <typename F>
  void warps(F f) {
    warp_parts.emplace_back([this, f](int w) {
      Warp view{&st[static_cast<size_t>(w) * 32]};
      f(w, view);
    });
  }
  void copy_async4(int tid, void* dst, const void* src, int bytes) {
    if (reinterpret_cast<std::uintptr_t>(dst) % 4 || reinterpret_cast<std::uintptr_t>(src) % 4 ||
        (bytes != 0 && bytes != 2 && bytes != 4))
      misaligned = true;
    std::memcpy(dst, &kPoison, 4);
    copies[tid].push_back({static_cast<unsigned char*>(dst), static_cast<const unsigned char*>(src),
                           bytes, committed[tid]});
  }
  void commit_copies(int tid) { ++committed[tid]; }
  bool copies_in_flight() const {
    for (const std::vector<Copy>& c : copies)
      if (!c.empty()) return true;
    return false;
  }
  template <int newest>
  void wait_copies(int tid) {
    std::vector<Copy> left;
    for (const Copy& c : copies[tid]) {
      if (c.group >= committed[tid] - newest) {
        left.push_back(c);
        continue;
      }
      std::memset(c.dst, 0, 4);
      std::memcpy(c.dst, c.src, static_cast<size_t>(c.bytes));
    }
    copies[tid] = left;
  }
  void sync() {
    std::vector<int> units(B::threads + B::W);  // u < threads: a thread, else a warp
    std::iota(units.begin(), units.end(), 0);
    if (mode == 1) std::reverse(units.begin(), units.end());
    if (mode == 2) std::shuffle(units.begin(), units.end(), rng);
    for (int u : units) {
      if (u < B::threads) {
        for (auto& part : thread_parts) part(u);
      } else {
        for (auto& part : warp_parts) part(u - B::threads);
      }
    }
    thread_parts.clear();
    warp_parts.clear();
  }
};

template <int M, class Math, int MF, bool async>
constexpr int smem_bytes_v2() {
  if constexpr (async)
    return v2::Staging<M, Math, MF>::smem_bytes;
  else
    return v2::Block<M, Math, MF>::smem_bytes;
}

template <int M, class Math, int MF, bool async, typename T>
wno_status conv2d_v2(const v2::ConvParams<T>& p, int order) {
  using B = v2::Block<M, Math, MF>;
  const long long grid_x = (p.s.tiles + B::BN - 1) / B::BN;
  const int grid_y = (p.kblocks + B::MF - 1) / B::MF;
  constexpr int words = (smem_bytes_v2<M, Math, MF, async>() + 3) / 4;
  std::vector<std::uint32_t> smem(words + kGuard);
  for (int by = 0; by < grid_y; ++by) {
    for (long long bx = 0; bx < grid_x; ++bx) {
      std::fill(smem.begin(), smem.begin() + words, kPoison);
      std::fill(smem.begin() + words, smem.end(), kGuardWord);
      HostRunnerV2<M, Math, MF> run(order, static_cast<unsigned>(bx * 7919 + by));
      unsigned char* block_smem = reinterpret_cast<unsigned char*>(smem.data());
      if constexpr (async)
        v2::conv_block_async<M, Math, MF>(run, p, static_cast<int>(bx), by, block_smem);
      else
        v2::conv_block<M, Math, MF>(run, p, static_cast<int>(bx), by, block_smem);
      // A misaligned copy, or one the block never waited for (its data would be lost).
      if (run.misaligned || run.copies_in_flight()) return WNO_ERROR_INTERNAL;
      for (int i = words; i < words + kGuard; ++i)
        if (smem[i] != kGuardWord) return WNO_ERROR_INTERNAL;
    }
  }
  return WNO_SUCCESS;
}

// block_k: out channels per block as the GPU entry chooses them for a GPU with `sms` SMs
// (row_blocks_for), here given by the caller: 32 or 64. pipeline: 0 registers, 1 cp.async
// (F(2,3) and F(4,3) only).
template <int M, class Math, typename T>
wno_status conv2d_v2(const wno_conv_desc& d, const void* x, const void* u, const float* bias,
                     void* y, int order, int block_k, int pipeline) {
  const v2::ConvParams<T> p = v2::make_params<M, Math, T>(d, x, u, bias, y);
  if (pipeline == 1) {
    if constexpr (M <= 4) {
      if (block_k == 32) return conv2d_v2<M, Math, 2, true, T>(p, order);
      if (block_k == 64) return conv2d_v2<M, Math, 4, true, T>(p, order);
    }
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  if (pipeline != 0) return WNO_ERROR_INVALID_ARGUMENT;
  if (block_k == 32) return conv2d_v2<M, Math, 2, false, T>(p, order);
  if (block_k == 64) return conv2d_v2<M, Math, 4, false, T>(p, order);
  return WNO_ERROR_INVALID_ARGUMENT;
}

template <int M, class Math, typename T>
void transform_weights_v2(const wno_conv_desc& d, const float* weight, void* out) {
  const ConvShape s = ConvShape::from(d);
  const int kblocks = (s.k + 15) / 16, cchunks = (s.c + Math::K - 1) / Math::K;
  const v2::WeightParams<T> p{weight,       static_cast<T*>(out), s.k,     s.c,
                              kblocks * 16, cchunks * Math::K,    kblocks, cchunks};
  for (int i = 0; i < p.kpad * p.cpad; ++i) v2::transform_weight<M, Math>(p, i);
}

template <class Math, typename T>
wno_status run_v2(const wno_conv_desc& d, const void* x, const void* u, const float* b, void* y,
                  int order, int block_k, int pipeline) {
  switch (d.tile) {
    case 2:
      return conv2d_v2<2, Math, T>(d, x, u, b, y, order, block_k, pipeline);
    case 4:
      return conv2d_v2<4, Math, T>(d, x, u, b, y, order, block_k, pipeline);
    default:
      return conv2d_v2<6, Math, T>(d, x, u, b, y, order, block_k, pipeline);
  }
}

// Each (tile, math) is instantiated in its own object (emulate_grid_v2_inst.cpp, compiled
// once per pair by CMake), so the build spreads the emulation over every core instead of
// compiling one unit for minutes.
#define WNO_EMU_V2_INSTANCE(M, MATH, T)                                                     \
  template wno_status conv2d_v2<M, MATH, T>(const wno_conv_desc&, const void*, const void*, \
                                            const float*, void*, int, int, int)
#define WNO_EMU_V2_EXTERN(MATH, T)        \
  extern WNO_EMU_V2_INSTANCE(2, MATH, T); \
  extern WNO_EMU_V2_INSTANCE(4, MATH, T); \
  extern WNO_EMU_V2_INSTANCE(6, MATH, T)
#ifndef WNO_EMU_V2_TILE
WNO_EMU_V2_EXTERN(MathF16, half_t);
WNO_EMU_V2_EXTERN(MathTf32, float);
WNO_EMU_V2_EXTERN(Math3xTf32, float);
#endif

}  // namespace emu
}  // namespace cuda
}  // namespace wno
