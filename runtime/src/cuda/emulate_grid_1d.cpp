// Host emulation of the CUDA kernel v1's 1-D path (conv_block_1d.h, the code the GPU runs),
// as emulate_grid.cpp does for the 2-D one: threads of a phase in a chosen order, shared
// memory NaN-filled with guard words behind it.
#include <limits>
#include <vector>

#include "conv_block_1d.h"
#include "emulate.h"

namespace wno {
namespace cuda {
namespace {

template <int M, typename T>
wno_status conv1d(const wno_conv_desc& d, const void* x, const void* u, const float* bias, void* y,
                  int order) {
  using B = LineBlock<M>;
  const ConvParams<T> p{static_cast<const T*>(x),
                        static_cast<const T*>(u),
                        bias,
                        static_cast<T*>(y),
                        ConvShape::from(d),
                        line_padded_out_channels<M>(d.out_channels)};
  const int grid_x = static_cast<int>((p.s.tiles + B::BN - 1) / B::BN), grid_y = p.kpad / B::BK;
  return emulate_blocks<LineState<M>>(
      grid_x, grid_y, B::threads, B::smem_floats, order,
      [&](auto& run, int bx, int by, float* smem) { conv_line_block<M>(run, p, bx, by, smem); });
}

template <int M, typename T>
void transform_weights(const wno_conv_desc& d, const float* weight, void* out) {
  const WeightParams<T> p{weight, static_cast<T*>(out), d.out_channels, d.in_channels,
                          line_padded_out_channels<M>(d.out_channels)};
  for (int i = 0; i < p.kpad * p.c; ++i) transform_line_weight<M>(p, i);
}

template <typename T>
wno_status conv_tile(const wno_conv_desc& d, const void* x, const void* u, const float* b, void* y,
                     int order) {
  return by_tile(d.tile, [&](auto m) { return conv1d<m, T>(d, x, u, b, y, order); });
}

template <typename T>
void weights_tile(const wno_conv_desc& d, const float* w, void* out) {
  by_tile(d.tile, [&](auto m) { transform_weights<m, T>(d, w, out); });
}

template <int M>
void info(int* out) {
  using B = LineBlock<M>;
  const int values[] = {B::threads, B::smem_floats * 4, B::BN, B::BK, B::BC, 1};
  std::copy(std::begin(values), std::end(values), out);
}

}  // namespace

void run_line_weights(const wno_conv_desc& d, wno_dtype dtype, const float* weight, void* out) {
  if (dtype == WNO_FLOAT32)
    weights_tile<float>(d, weight, out);
  else
    weights_tile<half_t>(d, weight, out);
}

wno_status run_line_conv(const wno_conv_desc& d, wno_dtype dtype, const void* x, const void* u,
                         const float* bias, void* y, int order) {
  if (dtype == WNO_FLOAT32) return conv_tile<float>(d, x, u, bias, y, order);
  return conv_tile<half_t>(d, x, u, bias, y, order);
}

}  // namespace cuda
}  // namespace wno

// {threads, shared bytes, tiles, out channels, in channels per chunk, epilogue passes} of the
// 1-D block (one epilogue pass: the output transform runs in registers).
WNO_EMU_API wno_status wno_emu_line_block_info(int tile, int* out6) {
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
