// 2-D Winograd tile transforms built from the generated 1-D ones: column pass, then
// row pass, over row-major tiles held in registers (CUDA) or vector lanes (CPU).
#pragma once

#include "wno/winograd_transforms.h"

namespace wno {

// v = BT d B for an a x a tile d (row-major, may alias v).
template <int M, typename T>
WNO_HD WNO_FORCE_INLINE void input_tile(const T* d, T* v) {
  constexpr int A = Winograd<M>::a;
  T t[A * A];
  WNO_UNROLL for (int j = 0; j < A; ++j)
    Winograd<M>::input_1d(d + j, A, t + j, A);
  WNO_UNROLL for (int i = 0; i < A; ++i)
    Winograd<M>::input_1d(t + i * A, 1, v + i * A, 1);
}

// u = G g GT for a 3 x 3 filter g (row-major) into an a x a tile.
template <int M, typename T>
WNO_HD WNO_FORCE_INLINE void weight_tile(const T* g, T* u) {
  constexpr int A = Winograd<M>::a;
  T t[A * 3];
  WNO_UNROLL for (int j = 0; j < 3; ++j)
    Winograd<M>::weight_1d(g + j, 3, t + j, 3);
  WNO_UNROLL for (int i = 0; i < A; ++i)
    Winograd<M>::weight_1d(t + i * 3, 1, u + i * A, 1);
}

// y = AT s A for an a x a tile s into an m x m tile y (row-major).
template <int M, typename T>
WNO_HD WNO_FORCE_INLINE void output_tile(const T* s, T* y) {
  constexpr int A = Winograd<M>::a;
  T t[M * A];
  WNO_UNROLL for (int j = 0; j < A; ++j)
    Winograd<M>::output_1d(s + j, A, t + j, A);
  WNO_UNROLL for (int i = 0; i < M; ++i)
    Winograd<M>::output_1d(t + i * A, 1, y + i * M, 1);
}

}  // namespace wno
