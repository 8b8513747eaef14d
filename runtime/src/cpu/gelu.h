// Exact (erf) GELU on vectors, as torch.nn.functional.gelu(approximate="none"):
//   gelu(x) = x / 2 * (1 + erf(x / sqrt 2))
// erf is three polynomials on |x| in [0, 0.9), [0.9, 2.5), [2.5, 3.95] (least-squares fits
// on Chebyshev nodes; erf(3.95) rounds to 1 in float), evaluated for every lane and
// blended: max |erf error| 6.7e-8 in float with FMA (measured over [-9, 9], step 3e-6).
#pragma once

#include "simd.h"

namespace WNO_CPU_NS {

// erf(a) / a - 1 in a^2: erf(a) = a + a * p(a^2), one rounding at the end.
constexpr float kErfSmall[] = {8.578752677e-05f,  -8.192117112e-04f, 5.205426203e-03f,
                               -2.686120687e-02f, 1.128372954e-01f,  -3.761263616e-01f,
                               1.283791670e-01f};
// erf(a) in a - 1.7 on [0.9, 2.5).
constexpr float kErfMid[] = {-7.034226518e-05f, -2.923894298e-04f, 1.127263124e-03f,
                             1.845008273e-04f,  -6.268857932e-03f, 1.115520677e-02f,
                             3.613918562e-03f,  -4.939990955e-02f, 9.991951914e-02f,
                             -1.066085233e-01f, 6.271104211e-02f,  9.837904564e-01f};
// erf(a) in a - 3.225 on [2.5, 3.95].
constexpr float kErfTail[] = {-8.711591185e-05f, 2.145095556e-04f,  -2.952885116e-04f,
                              3.452435122e-04f,  -3.282236964e-04f, 2.279922409e-04f,
                              -1.106855491e-04f, 3.426048000e-05f,  9.999949051e-01f};

template <int N>
WNO_FORCE_INLINE vf horner(const float (&c)[N], vf t) {
  vf p = splat(c[0]);
  WNO_UNROLL for (int i = 1; i < N; ++i)
    p = p * t + c[i];
  return p;
}

WNO_FORCE_INLINE vf erf(vf x) {
  typedef int vi __attribute__((vector_size(kVecBytes)));
  const vi sign = (vi)x & static_cast<int>(0x80000000u);  // vector casts reinterpret the bits
  vf a = (vf)((vi)x & 0x7fffffff);
  a = a < 3.95f ? a : splat(3.95f);  // NaN too: gelu keeps NaN through its factor x
  const vf small = horner(kErfSmall, a * a) * a + a;
  const vf mid = horner(kErfMid, a - 1.7f);
  const vf tail = horner(kErfTail, a - 3.225f);
  vf r = a < 0.9f ? small : (a < 2.5f ? mid : tail);
  r = r < 1.f ? r : splat(1.f);
  return (vf)((vi)r | sign);
}

WNO_FORCE_INLINE vf gelu(vf x) { return 0.5f * x * (1.f + erf(x * 0.70710678118654752f)); }

}  // namespace WNO_CPU_NS
