// Exact (erf) GELU on vectors, as torch.nn.functional.gelu(approximate="none"):
//   gelu(x) = x / 2 * (1 + erf(x / sqrt 2))
// in two named variants of erf, the only difference between them (templates on the vector
// type: simd.h's vf). GELU's error is 0.5 |x| times erf's.
//   gelu_erf_poly3  the Winograd kernel's epilogue: max |erf error| 6.7e-8
//   gelu_erf_rational  the engine's loops (engine/compute_isa.cpp): |erf error| <= 3.7e-7, a
//                   third of poly3's work (poly3 took ~40% of the engine's projection stage)
#pragma once

#include "simd.h"

namespace WNO_CPU_NS {

// erf_poly3: three polynomials on |x| in [0, 0.9), [0.9, 2.5), [2.5, 3.95] (least-squares fits
// on Chebyshev nodes; erf(3.95) rounds to 1 in float), evaluated for every lane and blended:
// max |erf error| 6.7e-8 in float with FMA (measured over [-9, 9], step 3e-6).

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

template <class V, int N>
WNO_FORCE_INLINE V horner(const float (&c)[N], V t) {
  V p = splat_as<V>(c[0]);
  WNO_UNROLL for (int i = 1; i < N; ++i)
    p = p * t + c[i];
  return p;
}

template <class V>
WNO_FORCE_INLINE V erf_poly3(V x) {
  typedef ivec<V> vi;
  const vi sign = (vi)x & static_cast<int>(0x80000000u);  // vector casts reinterpret the bits
  V a = (V)((vi)x & 0x7fffffff);
  a = a < 3.95f ? a : splat_as<V>(3.95f);  // NaN too: gelu keeps NaN through its factor x
  const V small = horner(kErfSmall, a * a) * a + a;
  const V mid = horner(kErfMid, a - 1.7f);
  const V tail = horner(kErfTail, a - 3.225f);
  V r = a < 0.9f ? small : (a < 2.5f ? mid : tail);
  r = r < 1.f ? r : splat_as<V>(1.f);
  return (V)((vi)r | sign);
}

// erf_rational: erf(x) = x P(x^2) / Q(x^2) (tools/fit_erf.py: a rational least-squares fit on
// [0, 4] reweighted toward minimax, 5.4e-8 in float64) on x clamped to [-3.9, 3.9], where the
// float ratio is exactly +-1 with FMA (erf(3.9) = 1 - 3.5e-8): exact tails, GELU x above 3.9 sqrt 2
// and 0 below its negative. |error| <= 3.7e-7 in float with FMA (measured on [-10, 10], step
// 3e-6), 11 FMAs, a multiply and a division: GELU 1.4x (AVX-512) and 1.25x (AVX2) faster than the
// A&S 7.1.28 form it replaced (Zen 5), as accurate. Far below the 1e-5 (of the output scale) the
// engine is held to against ONNX Runtime.
constexpr float kErfNum[] = {1.9214977165e-08f, -1.9902834257e-06f, 1.5555277871e-04f,
                             4.2938902662e-03f, 5.2436227766e-02f,  2.1396551661e-01f,
                             1.1283786772e+00f};
constexpr float kErfDen[] = {1.0982272242e-03f, 1.5552843430e-02f, 1.2080822282e-01f,
                             5.2294965689e-01f, 1.f};

// Plain inline (the compiler's choice, as the engine's loops had it).
template <class V>
inline V erf_rational(V x) {
  x = x < 3.9f ? x : splat_as<V>(3.9f);  // NaN too: gelu keeps NaN through its factor x
  x = x > -3.9f ? x : splat_as<V>(-3.9f);
  const V t = x * x;
  V p = splat_as<V>(kErfNum[0]);
  for (int i = 1; i < 7; ++i) p = p * t + kErfNum[i];
  V q = splat_as<V>(kErfDen[0]);
  for (int i = 1; i < 5; ++i) q = q * t + kErfDen[i];
  return x * p / q;
}

// exp(x) for x <= 88 (larger x: not needed by silu, which takes exp(-x) of a clamped x):
// x = n ln2 + r, |r| <= ln2 / 2, e^r by its degree-6 Taylor polynomial (Cephes' expf
// coefficients), 2^n into the exponent bits: about 2 ulp.
constexpr float kExpPoly[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                              4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

template <class V>
inline V exp_poly(V x) {
  typedef ivec<V> vi;
  x = x > -87.3f ? x : splat_as<V>(-87.3f);  // e^-87.3 is still a normal float
  V n = x * 1.44269504088896341f + 0.5f;
  n = __builtin_convertvector(__builtin_convertvector(n, vi), V);  // toward zero
  n = n > x * 1.44269504088896341f + 0.5f ? n - 1.f : n;           // floor(x log2 e + 1/2)
  const V r = x - n * 0.693359375f + n * 2.12194440e-4f;           // ln 2 in two parts
  V p = splat_as<V>(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = p * r + kExpPoly[i];
  p = p * r * r + r + 1.f;
  return (V)(((vi)p) + (__builtin_convertvector(n, vi) << 23));
}

// SiLU (swish): x sigmoid(x) = x / (1 + e^-x), as torch.nn.functional.silu. For x < -88 the
// exponent is clamped (e^88 is finite) and the result is x / (1 + e^88), below 1e-36.
template <class V>
inline V silu_exp(V x) {
  const V m = -x;
  return x / (1.f + exp_poly(m < 88.f ? m : splat_as<V>(88.f)));
}

template <class V>
WNO_FORCE_INLINE V gelu_erf_poly3(V x) {
  return 0.5f * x * (1.f + erf_poly3(x * 0.70710678118654752f));
}

template <class V>
inline V gelu_erf_rational(V x) {
  const V h = 0.5f * x;
  return h + h * erf_rational(x * 0.70710678118654752f);
}

}  // namespace WNO_CPU_NS
