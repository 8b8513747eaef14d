// The C entry points of kernel v2's emulation (the templates: emulate_grid_v2.h).
#include "emulate_grid_v2.h"

namespace wno {
namespace cuda {
namespace emu {

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

}  // namespace emu
}  // namespace cuda
}  // namespace wno

// Same sizes as wno_cuda_v2_weight_size.
WNO_EMU_API size_t wno_emu_v2_weight_size(const wno_conv_desc* d, wno_dtype dtype) {
  if (!wno::valid_desc(d) || d->dims == 1) return 0;  // kernel v2 has no 1-D path
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
  using namespace wno::cuda::emu;
  if (!wno::valid_desc(d) || !weight || !out) return WNO_ERROR_INVALID_ARGUMENT;
  if (d->dims == 1) return WNO_ERROR_UNSUPPORTED;
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
  using namespace wno::cuda::emu;
  if (!wno::valid_desc(d) || !x || !u || !y) return WNO_ERROR_INVALID_ARGUMENT;
  if (d->dims == 1) return WNO_ERROR_UNSUPPORTED;
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
  using namespace wno::cuda::emu;
  if (!out6) return WNO_ERROR_INVALID_ARGUMENT;
  if (dtype == WNO_FLOAT16) return info_v2_tile<MathF16>(tile, block_k, pipeline, out6);
  if (dtype == WNO_FLOAT32) return info_v2_tile<MathTf32>(tile, block_k, pipeline, out6);
  return WNO_ERROR_INVALID_ARGUMENT;
}
