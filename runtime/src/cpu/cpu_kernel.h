// What the CPU kernel's per-ISA translation units export to the dispatcher.
#pragma once

#include <cstddef>

#include "../common/conv_shape.h"
#include "thread_pool.h"

namespace wno {

// Transformed weights, the same for every ISA: U[position][K / kPanelRows][C][kPanelRows],
// out channels padded with zeros to a multiple of kPanelRows (the GEMM's M register tile).
constexpr int kPanelRows = 4;

// Winograd-domain positions: a per tile of a line (dims 1), a * a per 2-D tile.
inline int cpu_positions(const ConvShape& s) {
  return s.dims == 1 ? s.m + 2 : (s.m + 2) * (s.m + 2);
}

inline long long cpu_weight_floats(const ConvShape& s) {
  const long long kp = (s.k + kPanelRows - 1) / kPanelRows;
  return 1LL * cpu_positions(s) * kp * kPanelRows * s.c;
}

void cpu_transform_weights(const ConvShape& s, const float* weight, float* u);

// What the output transform applies: y = act(conv + bias + addend), each part optional.
struct Epilogue {
  const float* bias;    // K floats or null
  const float* addend;  // y's shape or null; may alias y
  int gelu;             // 1: exact erf GELU, 0: none
};

// The C ABI's conv (argument checks, workspace, the ISA's build) on any Parallel
// (cpu_api.cpp): the engine calls it for Parallel::balanced, which wno_cpu_parallel lacks.
wno_status cpu_conv2d(const wno_conv_desc* desc, const float* x, const void* transformed,
                      const float* bias, const float* addend, wno_activation activation, float* y,
                      void* workspace, size_t workspace_bytes, const Parallel& par);

}  // namespace wno

// One namespace per ISA build of cpu_kernel_isa.cpp (compiled once per ISA's flags).
#define WNO_DECLARE_CPU_ISA(ns)                                                                  \
  namespace ns {                                                                                 \
  std::size_t workspace_bytes(const wno::ConvShape& s, int threads);                             \
  void conv2d(const wno::ConvShape& s, const float* x, const float* u, const wno::Epilogue& epi, \
              float* y, char* workspace, const wno::Parallel& par);                              \
  }

WNO_DECLARE_CPU_ISA(wno_cpu_generic)
#if defined(__x86_64__) || defined(_M_X64)
WNO_DECLARE_CPU_ISA(wno_cpu_avx2)
WNO_DECLARE_CPU_ISA(wno_cpu_avx512)
#endif
