// Warp-level tensor-core MMA (PTX mma.sync) for kernel v2, with a software model of the
// same instruction for the host emulation.
//
// Kernel code holds one warp's fragments as arrays over L "lane slots": on the GPU L = 1
// (the thread's own lane, its registers), in the emulation L = 32 (every lane of the
// warp). mma() then issues mma.sync on the GPU, and on the host gathers the 32 lanes'
// fragments into whole matrices by the PTX ISA's fragment tables, multiplies, and hands
// each lane its elements of D back by the same tables. A kernel that puts an element in
// the wrong register therefore computes a wrong product in the emulation too.
//
// Fragment tables (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type"
// and "... for mma.m16n8k8"); g = laneid >> 2 (groupID), t = laneid % 4
// (threadID_in_group):
//   m16n8k16 .f16  A (16x16, row): a_i row g for i in {0,1,4,5}, else g + 8;
//                                  col 2t + (i & 1), + 8 for i >= 4
//                  B (16x8, col):  b_i row 2t + (i & 1), + 8 for i >= 2; col g
//   m16n8k8 .tf32  A (16x8, row):  a_i row g for i in {0,2}, else g + 8;
//                                  col t for i in {0,1}, else t + 4
//                  B (8x8, col):   b_0 row t, b_1 row t + 4; col g
//   C/D (16x8, f32, both):         c_i row g for i < 2, else g + 8; col 2t + (i & 1)
// sm_75 has no m16n8k16 for f16; there the k16 step is the two m16n8k8 .f16 steps it is
// made of (a0..a3 with b0,b1 for columns 0..7, a4..a7 with b2,b3 for columns 8..15),
// whose tables are the k16 table restricted to those columns.
#pragma once

#include <cstdint>
#include <cstring>

#include "wno/half.h"

namespace wno {
namespace cuda {

// TF32 as the hardware sees it: cvt.rna.tf32.f32 rounds to 10 explicit mantissa bits,
// to nearest with ties away from zero; the MMA ignores the 13 low bits of an operand.
WNO_HD WNO_FORCE_INLINE float round_tf32(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  std::uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return __uint_as_float(r);
#elif defined(__CUDA_ARCH__)
  return x;  // sm_75 has no TF32; the kernels that would use this trap there
#else
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0x1000u) & 0xffffe000u;  // inf/NaN stay
  float r;
  std::memcpy(&r, &b, sizeof r);
  return r;
#endif
}

// The three MMA flavours of kernel v2: the operand element type, the k of one step, the
// elements per lane of A and B, and whether fp32 operands are split (3xTF32).
struct MathF16 {  // fp16 x fp16 -> fp32, m16n8k16
  using Elem = half_t;
  static constexpr int K = 16, AE = 8, BE = 4, pad = 8, split = 0;
};
struct MathTf32 {  // tf32 x tf32 -> fp32, m16n8k8
  using Elem = float;
  static constexpr int K = 8, AE = 4, BE = 2, pad = 4, split = 0;
};
struct Math3xTf32 : MathTf32 {  // a*b ~ ah*bh + ah*bl + al*bh, h = tf32(x), l = tf32(x - h)
  static constexpr int split = 1;
};

template <class Math>
struct alignas(16) FragA {
  typename Math::Elem e[Math::AE];
};
template <class Math>
struct alignas(8) FragB {
  typename Math::Elem e[Math::BE];
};

#if !defined(__CUDA_ARCH__)
// ---- host model of one warp's mma.sync ----------------------------------------------
// Products of f16 or tf32 operands are exact in fp32; the sum runs in fp32, k ascending,
// as one fused multiply-add after another (the hardware's order is unspecified).
inline float model_operand(half_t h) { return to_float(h); }
inline float model_operand(float f) {  // only the tf32 bits count
  std::uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  b &= 0xffffe000u;
  float r;
  std::memcpy(&r, &b, sizeof r);
  return r;
}

template <class Math>
void mma_model(float* const (&d)[32], const FragA<Math> (&a)[32], const FragB<Math> (&b)[32]) {
  constexpr int K = Math::K;
  float A[16][K], B[K][8], C[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < Math::AE; ++i) {
      int row, col;
      if (K == 16) {
        row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
        col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
      } else {
        row = (i == 0 || i == 2) ? g : g + 8;
        col = i < 2 ? t : t + 4;
      }
      A[row][col] = model_operand(a[lane].e[i]);
    }
    for (int i = 0; i < Math::BE; ++i) {
      const int row = K == 16 ? t * 2 + (i & 1) + (i >= 2 ? 8 : 0) : (i == 0 ? t : t + 4);
      B[row][g] = model_operand(b[lane].e[i]);
    }
    for (int i = 0; i < 4; ++i) C[i < 2 ? g : g + 8][t * 2 + (i & 1)] = d[lane][i];
  }
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 8; ++c) {
      float s = C[r][c];
      for (int k = 0; k < K; ++k) s = __builtin_fmaf(A[r][k], B[k][c], s);
      C[r][c] = s;
    }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < 4; ++i) d[lane][i] = C[i < 2 ? g : g + 8][t * 2 + (i & 1)];
  }
}
#endif

// d += a * b for every lane slot of the warp.
template <class Math, int L>
WNO_HD WNO_FORCE_INLINE void mma(float* const (&d)[L], const FragA<Math> (&a)[L],
                                 const FragB<Math> (&b)[L]) {
  if constexpr (L == 1) {  // the GPU: this thread's lane
#if defined(__CUDA_ARCH__)
    const std::uint32_t* ar = reinterpret_cast<const std::uint32_t*>(a[0].e);
    const std::uint32_t* br = reinterpret_cast<const std::uint32_t*>(b[0].e);
    float* c = d[0];
    if constexpr (Math::K == 16) {
#if __CUDA_ARCH__ >= 800
      asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
          "{%8,%9}, {%0,%1,%2,%3};"
          : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
          : "r"(ar[0]), "r"(ar[1]), "r"(ar[2]), "r"(ar[3]), "r"(br[0]), "r"(br[1]));
#else
      asm("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, "
          "{%0,%1,%2,%3};"
          : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
          : "r"(ar[0]), "r"(ar[1]), "r"(br[0]));
      asm("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, "
          "{%0,%1,%2,%3};"
          : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
          : "r"(ar[2]), "r"(ar[3]), "r"(br[1]));
#endif
    } else {
#if __CUDA_ARCH__ >= 800
      asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
          "{%8,%9}, {%0,%1,%2,%3};"
          : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
          : "r"(ar[0]), "r"(ar[1]), "r"(ar[2]), "r"(ar[3]), "r"(br[0]), "r"(br[1]));
#else
      __trap();  // TF32 MMA needs sm_80: the host entry refuses fp32 v2 below it
#endif
    }
#endif
  } else {  // the emulation: the whole warp
#if !defined(__CUDA_ARCH__)
    mma_model<Math>(d, a, b);
#endif
  }
}

}  // namespace cuda
}  // namespace wno
