// Host emulation of the CUDA kernels' grids, for the tests: runs conv_block.h, the
// code the GPU runs, with g++. A block's threads run one after another inside each
// phase (between two barriers), in an order the caller picks: a result that depends
// on the order exposes a race between threads of one phase. Shared memory starts as
// NaN, so reading a word no phase wrote poisons the output, and guard words behind it
// catch overruns.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "conv_block.h"

namespace wno {
namespace cuda {
namespace {

constexpr int kGuard = 64;  // floats behind the shared memory

template <int M>
struct HostRunner {
  std::vector<ThreadState<M>> st;
  std::vector<int> order;

  HostRunner(int mode, unsigned seed) : st(Block<M>::threads), order(Block<M>::threads) {
    std::iota(order.begin(), order.end(), 0);
    if (mode == 1) std::reverse(order.begin(), order.end());
    if (mode == 2) std::shuffle(order.begin(), order.end(), std::mt19937(seed));
    for (ThreadState<M>& s : st) std::memset(&s, 0, sizeof s);
  }

  template <typename F>
  void phase(F&& f) {
    for (int tid : order) f(tid, st[tid]);
  }
};

template <int M, typename T>
wno_status conv2d(const wno_conv_desc& d, const void* x, const void* u, const float* bias, void* y,
                  int order) {
  using B = Block<M>;
  const ConvParams<T> p{
      static_cast<const T*>(x), static_cast<const T*>(u), bias,
      static_cast<T*>(y),       ConvShape::from(d),       padded_out_channels<M>(d.out_channels)};
  const int grid_x = static_cast<int>((p.s.tiles + B::BN - 1) / B::BN), grid_y = p.kpad / B::BK;
  std::vector<float> smem(B::smem_floats + kGuard);
  const float nan = std::numeric_limits<float>::quiet_NaN(), guard = -12345.f;
  for (int by = 0; by < grid_y; ++by) {
    for (int bx = 0; bx < grid_x; ++bx) {
      std::fill(smem.begin(), smem.begin() + B::smem_floats, nan);
      std::fill(smem.begin() + B::smem_floats, smem.end(), guard);
      HostRunner<M> run(order, static_cast<unsigned>(bx * 7919 + by));
      conv_block<M>(run, p, bx, by, smem.data());
      for (int i = B::smem_floats; i < B::smem_floats + kGuard; ++i)
        if (smem[i] != guard) return WNO_ERROR_INTERNAL;
    }
  }
  return WNO_SUCCESS;
}

template <int M, typename T>
void transform_weights(const wno_conv_desc& d, const float* weight, void* out) {
  const WeightParams<T> p{weight, static_cast<T*>(out), d.out_channels, d.in_channels,
                          padded_out_channels<M>(d.out_channels)};
  for (int i = 0; i < p.kpad * p.c; ++i) transform_weight<M>(p, i);
}

template <typename T>
wno_status run_conv(const wno_conv_desc& d, const void* x, const void* u, const float* b, void* y,
                    int order) {
  switch (d.tile) {
    case 2:
      return conv2d<2, T>(d, x, u, b, y, order);
    case 4:
      return conv2d<4, T>(d, x, u, b, y, order);
    default:
      return conv2d<6, T>(d, x, u, b, y, order);
  }
}

template <typename T>
void run_weights(const wno_conv_desc& d, const float* w, void* out) {
  switch (d.tile) {
    case 2:
      return transform_weights<2, T>(d, w, out);
    case 4:
      return transform_weights<4, T>(d, w, out);
    default:
      return transform_weights<6, T>(d, w, out);
  }
}

template <int M>
void info(int* out) {
  using B = Block<M>;
  const int values[] = {B::threads, B::smem_floats * 4, B::BN, B::BK, B::BC, B::passes};
  std::copy(std::begin(values), std::end(values), out);
}

}  // namespace
}  // namespace cuda
}  // namespace wno

#define WNO_EMU_API extern "C" __attribute__((visibility("default")))

// Same sizes as wno_cuda_weight_size; host pointers everywhere.
WNO_EMU_API size_t wno_emu_weight_size(const wno_conv_desc* d, wno_dtype dtype) {
  if (!wno::valid_desc(d)) return 0;
  const size_t a = static_cast<size_t>(d->tile) + 2;
  return a * a * d->in_channels * wno::cuda::padded_k(*d) * (dtype == WNO_FLOAT32 ? 4 : 2);
}

WNO_EMU_API wno_status wno_emu_transform_weights(const wno_conv_desc* d, wno_dtype dtype,
                                                 const float* weight, void* out) {
  if (!wno::valid_desc(d) || !weight || !out) return WNO_ERROR_INVALID_ARGUMENT;
  if (dtype == WNO_FLOAT32)
    wno::cuda::run_weights<float>(*d, weight, out);
  else if (dtype == WNO_FLOAT16)
    wno::cuda::run_weights<wno::half_t>(*d, weight, out);
  else
    return WNO_ERROR_UNSUPPORTED;
  return WNO_SUCCESS;
}

// order: 0 threads in order, 1 reversed, 2 shuffled per block.
WNO_EMU_API wno_status wno_emu_conv2d(const wno_conv_desc* d, wno_dtype dtype, const void* x,
                                      const void* u, const float* bias, void* y, int order) {
  if (!wno::valid_desc(d) || !x || !u || !y) return WNO_ERROR_INVALID_ARGUMENT;
  if (dtype == WNO_FLOAT32) return wno::cuda::run_conv<float>(*d, x, u, bias, y, order);
  if (dtype == WNO_FLOAT16) return wno::cuda::run_conv<wno::half_t>(*d, x, u, bias, y, order);
  return WNO_ERROR_UNSUPPORTED;
}

// {threads, shared bytes, tiles, out channels, in channels per chunk, epilogue passes}.
WNO_EMU_API wno_status wno_emu_block_info(int tile, int* out6) {
  if (!out6) return WNO_ERROR_INVALID_ARGUMENT;
  switch (tile) {
    case 2:
      wno::cuda::info<2>(out6);
      return WNO_SUCCESS;
    case 4:
      wno::cuda::info<4>(out6);
      return WNO_SUCCESS;
    case 6:
      wno::cuda::info<6>(out6);
      return WNO_SUCCESS;
  }
  return WNO_ERROR_INVALID_ARGUMENT;
}

WNO_EMU_API void wno_emu_float_to_half(const float* in, std::uint16_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = wno::float_to_half_bits(in[i]);
}

WNO_EMU_API void wno_emu_half_to_float(const std::uint16_t* in, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = wno::half_bits_to_float(in[i]);
}

// ---- kernel v2 (tensor cores) -----------------------------------------------------------
// The block code of conv_block_v2.h over an emulated grid. Within a barrier interval the
// units are the threads (each running its parts of the interval in program order) and
// the warps (whose MMA parts run as one, through mma.h's model of mma.sync); order 1
// runs the units in reverse, order 2 shuffled, threads and warps interleaved.
// cp.async is modelled per thread: a copy lands only at the wait_group that covers it,
// and its destination reads NaN until then, so a read before the wait poisons the output.
#include <functional>

#include "conv_block_v2_async.h"

namespace wno {
namespace cuda {
namespace {

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

template <class Math, typename T>
void run_weights_v2(const wno_conv_desc& d, const float* w, void* out) {
  switch (d.tile) {
    case 2:
      return transform_weights_v2<2, Math, T>(d, w, out);
    case 4:
      return transform_weights_v2<4, Math, T>(d, w, out);
    default:
      return transform_weights_v2<6, Math, T>(d, w, out);
  }
}

template <int M, class Math, int MF, bool async>
void info_v2(int* out) {
  using B = v2::Block<M, Math, MF>;
  const int values[] = {B::threads, smem_bytes_v2<M, Math, MF, async>(), B::BN, B::BK, B::BC,
                        B::passes};
  std::copy(std::begin(values), std::end(values), out);
}

template <class Math, int MF, bool async>
wno_status info_v2_tile(int tile, int* out) {
  switch (tile) {
    case 2:
      info_v2<2, Math, MF, async>(out);
      return WNO_SUCCESS;
    case 4:
      info_v2<4, Math, MF, async>(out);
      return WNO_SUCCESS;
    case 6:
      if constexpr (async) return WNO_ERROR_INVALID_ARGUMENT;
      info_v2<6, Math, MF, false>(out);
      return WNO_SUCCESS;
  }
  return WNO_ERROR_INVALID_ARGUMENT;
}

template <class Math>
wno_status info_v2_tile(int tile, int block_k, int pipeline, int* out) {
  if (pipeline != 0 && pipeline != 1) return WNO_ERROR_INVALID_ARGUMENT;
  if (block_k == 32)
    return pipeline ? info_v2_tile<Math, 2, true>(tile, out)
                    : info_v2_tile<Math, 2, false>(tile, out);
  if (block_k == 64)
    return pipeline ? info_v2_tile<Math, 4, true>(tile, out)
                    : info_v2_tile<Math, 4, false>(tile, out);
  return WNO_ERROR_INVALID_ARGUMENT;
}

}  // namespace
}  // namespace cuda
}  // namespace wno

// Same sizes as wno_cuda_v2_weight_size.
WNO_EMU_API size_t wno_emu_v2_weight_size(const wno_conv_desc* d, wno_dtype dtype) {
  if (!wno::valid_desc(d)) return 0;
  const wno::ConvShape s = wno::ConvShape::from(*d);
  if (dtype == WNO_FLOAT32)
    return static_cast<size_t>(wno::cuda::v2::weight_elems<wno::cuda::MathTf32>(s)) * 4;
  if (dtype == WNO_FLOAT16)
    return static_cast<size_t>(wno::cuda::v2::weight_elems<wno::cuda::MathF16>(s)) * 2;
  return 0;
}

WNO_EMU_API wno_status wno_emu_v2_transform_weights(const wno_conv_desc* d, wno_dtype dtype,
                                                    const float* weight, void* out) {
  using namespace wno::cuda;
  if (!wno::valid_desc(d) || !weight || !out) return WNO_ERROR_INVALID_ARGUMENT;
  if (dtype == WNO_FLOAT32)
    run_weights_v2<MathTf32, float>(*d, weight, out);
  else if (dtype == WNO_FLOAT16)
    run_weights_v2<MathF16, wno::half_t>(*d, weight, out);
  else
    return WNO_ERROR_UNSUPPORTED;
  return WNO_SUCCESS;
}

// math: wno_cuda_math (fp32: default = 3xTF32, TF32, 3xTF32; fp16: default only).
// block_k: out channels per block, 32 or 64 (the GPU entry picks one: wno_emu_v2_block_k).
// pipeline: 0 registers, 1 cp.async (WNO_CUDA_V2_PIPELINE=async; tiles 2 and 4).
WNO_EMU_API wno_status wno_emu_v2_conv2d(const wno_conv_desc* d, wno_dtype dtype, int math,
                                         const void* x, const void* u, const float* bias, void* y,
                                         int order, int block_k, int pipeline) {
  using namespace wno::cuda;
  if (!wno::valid_desc(d) || !x || !u || !y) return WNO_ERROR_INVALID_ARGUMENT;
  if (dtype == WNO_FLOAT16) {
    if (math != WNO_MATH_DEFAULT) return WNO_ERROR_UNSUPPORTED;
    return run_v2<MathF16, wno::half_t>(*d, x, u, bias, y, order, block_k, pipeline);
  }
  if (dtype != WNO_FLOAT32) return WNO_ERROR_UNSUPPORTED;
  if (math == WNO_MATH_TF32)
    return run_v2<MathTf32, float>(*d, x, u, bias, y, order, block_k, pipeline);
  if (math == WNO_MATH_DEFAULT || math == WNO_MATH_3XTF32)
    return run_v2<Math3xTf32, float>(*d, x, u, bias, y, order, block_k, pipeline);
  return WNO_ERROR_INVALID_ARGUMENT;
}

// The out channels per block that wno_cuda_v2_conv2d launches on a GPU with `sms` SMs.
WNO_EMU_API int wno_emu_v2_block_k(const wno_conv_desc* d, int sms) {
  if (!wno::valid_desc(d)) return 0;
  const wno::ConvShape s = wno::ConvShape::from(*d);
  return 16 * wno::cuda::v2::row_blocks_for(s.tiles, (s.k + 15) / 16, sms);
}

// {threads, shared bytes, tiles, out channels, in channels per chunk, epilogue passes}.
WNO_EMU_API wno_status wno_emu_v2_block_info(int tile, wno_dtype dtype, int block_k, int pipeline,
                                             int* out6) {
  using namespace wno::cuda;
  if (!out6) return WNO_ERROR_INVALID_ARGUMENT;
  if (dtype == WNO_FLOAT16) return info_v2_tile<MathF16>(tile, block_k, pipeline, out6);
  if (dtype == WNO_FLOAT32) return info_v2_tile<MathTf32>(tile, block_k, pipeline, out6);
  return WNO_ERROR_INVALID_ARGUMENT;
}
