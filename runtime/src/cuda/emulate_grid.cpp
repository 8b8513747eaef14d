// Host emulation of the CUDA kernels' grids, for the tests: runs conv_block.h, the
// code the GPU runs, with g++ (kernel v2: emulate_grid_v2*.cpp; 1-D: emulate_grid_1d.cpp). A
// block's threads run one after another inside each phase (between two barriers), in an order the
// caller picks: a result that depends on the order exposes a race between threads of one phase.
// Shared memory starts as NaN, so reading a word no phase wrote poisons the output, and guard words
// behind it catch overruns.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "conv_block.h"
#include "conv_block_1d.h"
#include "emulate.h"

namespace wno {
namespace cuda {
namespace {

template <int M, typename T>
wno_status conv2d(const wno_conv_desc& d, const void* x, const void* u, const float* bias, void* y,
                  int order) {
  using B = Block<M>;
  const ConvParams<T> p{
      static_cast<const T*>(x), static_cast<const T*>(u), bias,
      static_cast<T*>(y),       ConvShape::from(d),       padded_out_channels<M>(d.out_channels)};
  const int grid_x = static_cast<int>((p.s.tiles + B::BN - 1) / B::BN), grid_y = p.kpad / B::BK;
  return emulate_blocks<ThreadState<M>>(
      grid_x, grid_y, B::threads, B::smem_floats, order,
      [&](auto& run, int bx, int by, float* smem) { conv_block<M>(run, p, bx, by, smem); });
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
  return by_tile(d.tile, [&](auto m) { return conv2d<m, T>(d, x, u, b, y, order); });
}

template <typename T>
void run_weights(const wno_conv_desc& d, const float* w, void* out) {
  by_tile(d.tile, [&](auto m) { transform_weights<m, T>(d, w, out); });
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

// Same sizes as wno_cuda_weight_size; host pointers everywhere.
WNO_EMU_API size_t wno_emu_weight_size(const wno_conv_desc* d, wno_dtype dtype) {
  if (!wno::valid_desc(d)) return 0;
  return wno::cuda::weight_elems(*d) * (dtype == WNO_FLOAT32 ? 4 : 2);
}

WNO_EMU_API wno_status wno_emu_transform_weights(const wno_conv_desc* d, wno_dtype dtype,
                                                 const float* weight, void* out) {
  if (!wno::valid_desc(d) || !weight || !out) return WNO_ERROR_INVALID_ARGUMENT;
  if (dtype != WNO_FLOAT32 && dtype != WNO_FLOAT16) return WNO_ERROR_UNSUPPORTED;
  if (d->dims == 1)
    wno::cuda::run_line_weights(*d, dtype, weight, out);
  else if (dtype == WNO_FLOAT32)
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
  if (dtype != WNO_FLOAT32 && dtype != WNO_FLOAT16) return WNO_ERROR_UNSUPPORTED;
  if (d->dims == 1) return wno::cuda::run_line_conv(*d, dtype, x, u, bias, y, order);
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
