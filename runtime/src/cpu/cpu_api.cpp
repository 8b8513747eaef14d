// C ABI of the CPU kernel: argument checks, ISA dispatch, workspace handling.
#include <cstdint>
#include <cstdlib>
#include <new>

#include "cpu_kernel.h"
#include "isa.h"
#include "thread_pool.h"

namespace {

struct IsaKernel {
  const char* name;
  std::size_t (*workspace_bytes)(const wno::ConvShape&, int threads);
  void (*conv2d)(const wno::ConvShape&, const float*, const float*, const wno::Epilogue&, float*,
                 char*, const wno::Parallel&);
};

#define WNO_ISA_KERNEL(isa, ns) \
  IsaKernel { wno::isa_name(isa), ns::workspace_bytes, ns::conv2d }

// The build of cpu_kernel_isa.cpp for the process's ISA (isa.h: the engine's loops use the same).
IsaKernel pick_isa() {
  const wno::Isa chosen = wno::chosen_isa();
  switch (chosen) {
#if defined(__x86_64__) || defined(_M_X64)
    case wno::Isa::avx512:
      return WNO_ISA_KERNEL(chosen, wno_cpu_avx512);
    case wno::Isa::avx2:
      return WNO_ISA_KERNEL(chosen, wno_cpu_avx2);
#endif
    default:
      return WNO_ISA_KERNEL(chosen, wno_cpu_generic);
  }
}

const IsaKernel& isa() {
  static const IsaKernel chosen = pick_isa();
  return chosen;
}

int threads_or_default(int num_threads) {
  return num_threads > 0 ? num_threads : wno::default_num_threads();
}

}  // namespace

wno_status wno::cpu_conv2d(const wno_conv_desc* desc, const float* x, const void* transformed,
                           const float* bias, const float* addend, wno_activation activation,
                           float* y, void* workspace, size_t workspace_bytes,
                           const wno::Parallel& par) {
  if (!wno::valid_desc(desc) || !x || !transformed || !y) return WNO_ERROR_INVALID_ARGUMENT;
  if (activation != WNO_ACT_NONE && activation != WNO_ACT_GELU) return WNO_ERROR_INVALID_ARGUMENT;
  const wno::ConvShape s = wno::ConvShape::from(*desc);
  const size_t need = isa().workspace_bytes(s, par.threads);
  void* owned = nullptr;
  if (!workspace) {
    owned = std::malloc(need);
    if (!owned) return WNO_ERROR_OUT_OF_MEMORY;
    workspace = owned;
  } else if (workspace_bytes < need) {
    return WNO_ERROR_WORKSPACE_TOO_SMALL;
  }
  const wno::Epilogue epi{bias, addend, activation == WNO_ACT_GELU ? 1 : 0};
  wno_status status = WNO_SUCCESS;
  try {  // nothing may unwind into C callers (std::thread creation can throw)
    isa().conv2d(s, x, static_cast<const float*>(transformed), epi, y,
                 static_cast<char*>(workspace), par);
  } catch (const std::bad_alloc&) {
    status = WNO_ERROR_OUT_OF_MEMORY;
  } catch (...) {
    status = WNO_ERROR_INTERNAL;
  }
  std::free(owned);
  return status;
}

extern "C" {

size_t wno_cpu_weight_size(const wno_conv_desc* desc) {
  if (!wno::valid_desc(desc)) return 0;
  return sizeof(float) * wno::cpu_weight_floats(wno::ConvShape::from(*desc));
}

wno_status wno_cpu_transform_weights(const wno_conv_desc* desc, const float* weight,
                                     void* transformed, size_t transformed_bytes) {
  if (!wno::valid_desc(desc) || !weight || !transformed) return WNO_ERROR_INVALID_ARGUMENT;
  if (transformed_bytes < wno_cpu_weight_size(desc)) return WNO_ERROR_WORKSPACE_TOO_SMALL;
  wno::cpu_transform_weights(wno::ConvShape::from(*desc), weight, static_cast<float*>(transformed));
  return WNO_SUCCESS;
}

size_t wno_cpu_workspace_size(const wno_conv_desc* desc, int num_threads) {
  if (!wno::valid_desc(desc)) return 0;
  return isa().workspace_bytes(wno::ConvShape::from(*desc), threads_or_default(num_threads));
}

wno_status wno_cpu_conv2d_fused(const wno_conv_desc* desc, const float* x, const void* transformed,
                                const float* bias, const float* addend, wno_activation activation,
                                float* y, void* workspace, size_t workspace_bytes,
                                int num_threads) {
  wno::Parallel par;
  par.threads = threads_or_default(num_threads);
  return wno::cpu_conv2d(desc, x, transformed, bias, addend, activation, y, workspace,
                         workspace_bytes, par);
}

wno_status wno_cpu_conv2d_on(const wno_conv_desc* desc, const float* x, const void* transformed,
                             const float* bias, const float* addend, wno_activation activation,
                             float* y, void* workspace, size_t workspace_bytes,
                             const wno_cpu_parallel* parallel) {
  if (!parallel || !parallel->parallel_for || parallel->num_threads < 1)
    return WNO_ERROR_INVALID_ARGUMENT;
  wno::Parallel par;
  par.run = parallel->parallel_for;
  par.pool = parallel->pool;
  par.threads = parallel->num_threads;
  return wno::cpu_conv2d(desc, x, transformed, bias, addend, activation, y, workspace,
                         workspace_bytes, par);
}

wno_status wno_cpu_conv2d(const wno_conv_desc* desc, const float* x, const void* transformed,
                          const float* bias, float* y, void* workspace, size_t workspace_bytes,
                          int num_threads) {
  return wno_cpu_conv2d_fused(desc, x, transformed, bias, nullptr, WNO_ACT_NONE, y, workspace,
                              workspace_bytes, num_threads);
}

const char* wno_cpu_isa(void) { return isa().name; }

int wno_cpu_default_threads(void) { return wno::default_num_threads(); }

}  // extern "C"
