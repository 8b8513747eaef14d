// The engine's own loops (everything but the 3x3 convolution, which is the Winograd kernel's):
// small GEMMs on packed B panels, GELU, the per-mode complex channel mixing. Compiled once per
// ISA (compute_isa.cpp, like the kernel's cpu_kernel_isa.cpp); dispatch.cpp picks the build of
// the kernel's ISA (src/cpu/isa.h) at load.
#pragma once

#include <cstddef>

namespace wno::engine {

constexpr int kNr = 16;  // columns of a packed B panel (one AVX-512 vector, two AVX2 vectors)
constexpr int kMr = 6;   // rows of C per register tile
constexpr int kModeBlock = 32;  // modes per register block of the spectral mixing
constexpr int kChunk = 256;     // pixel columns per task of the pointwise (1x1, MLP) stages
constexpr int kMixGroup = 4;    // out channels per task of the spectral mixing (mix's groups)

// The activations of bias_act: none, exact GELU (true converts to it), SiLU.
enum Activation : int { kNone = 0, kGelu = 1, kSilu = 2 };

// Floats of B (K x N) packed into panels of kNr columns, zero-padded.
inline long long packed_floats(long long k, long long n) { return ((n + kNr - 1) / kNr) * kNr * k; }

struct Kernels {
  const char* isa;
  // out[p][k][j] = B[k][p * kNr + j] (0 past column N), out holds packed_floats(K, N).
  void (*pack_b)(int k, int n, const float* b, long long ldb, float* out);
  // C (M x N, ldc) = / += A (M x K, lda) @ packed B.
  void (*gemm_packed)(int m, int n, int k, const float* a, long long lda, const float* bp, float* c,
                      long long ldc, bool accumulate);
  // C[i][:] = act(C[i][:] + bias[i]) for rows i < m, n columns (bias may be null); act is an
  // Activation (kNone, kGelu, kSilu).
  void (*bias_act)(int m, int n, float* c, long long ldc, const float* bias, int act);
  // out[o][j] (row stride ldo) = sum_p w[o][p] act(h[p][j] + bias[p]) for o < rows, j < n, p < m:
  // a GEMM on the activated rows of h, unchanged, without storing or packing them (the
  // projection's last map; w is rows x m, row-major).
  void (*act_dot)(int m, int n, const float* h, long long ldh, const float* bias, int act, int rows,
                  const float* w, float* out, long long ldo);
  // y[i] = act(a[i] + y[i]) for i < n (the layer's sum when the conv is not fused).
  void (*add_act)(long long n, const float* a, float* y, bool gelu);
  // out[j] = sum_i w[i] x[i * ldx + j] + (r + c[j]) for j < n, i < cin (the lift of an image row).
  void (*lift_row)(int n, int cin, const float* x, long long ldx, const float* w, float r,
                   const float* c, float* out);
  // The W fold of the DFT GEMMs, per row i < rows of v (row stride ldv, wp columns): sums of the
  // mirrored columns into even (rows x (wp / 2 + 1)): column 0, v[j] + v[wp - j] for j in [1, no]
  // (no = (wp - 1) / 2), and column wp / 2 where wp is even; differences v[j] - v[wp - j] into
  // odd (rows x no).
  void (*fold)(int rows, const float* v, long long ldv, int wp, float* even, float* odd);
  // Its inverse: rows of out (stride ldo) from the even and odd parts.
  void (*unfold)(int rows, const float* even, const float* odd, int wp, float* out, long long ldo);
  // The same across rows (the H fold): of t (rows x n, row stride ldt), row 0, t[j] + t[rows - j]
  // for j in [1, no] (no = (rows - 1) / 2) and row rows / 2 where rows is even into even (stride
  // lde); t[j] - t[rows - j] into odd (no rows, stride ldo).
  void (*fold_rows)(int rows, int n, const float* t, long long ldt, float* even, long long lde,
                    float* odd, long long ldo);
  // Its inverse: t from the even and odd rows.
  void (*unfold_rows)(int rows, int n, const float* even, long long lde, const float* odd,
                      long long ldo, float* t, long long ldt);
  // Complex channel mixing for out channels [o0, o1), modes in blocks of kModeBlock:
  //   x: (batch, c, 2, modes) [re; im], y: (batch, o, 2, modes), modes a multiple of kModeBlock
  //   w: (o, modes / kModeBlock, c, 2, kModeBlock) [W_re; W_im] per block: read in order
  //   y_re = sum_c x_re W_re - x_im W_im, y_im = sum_c x_re W_im + x_im W_re.
  void (*mix)(int batch, int c, int o, int o0, int o1, long long modes, const float* x,
              const float* w, float* y);
};

const Kernels& pick_kernels();

}  // namespace wno::engine

#define WNO_DECLARE_ENGINE_ISA(ns)       \
  namespace ns {                         \
  const wno::engine::Kernels& kernels(); \
  }
WNO_DECLARE_ENGINE_ISA(wno_engine_generic)
#if defined(__x86_64__) || defined(_M_X64)
WNO_DECLARE_ENGINE_ISA(wno_engine_avx2)
WNO_DECLARE_ENGINE_ISA(wno_engine_avx512)
#endif
