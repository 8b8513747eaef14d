// float16 storage for code shared by host and device: __half under nvcc, a bit-exact
// round-to-nearest-even software half elsewhere (what __float2half_rn computes).
#pragma once

#include "wno/host_device.h"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#else
#include <cstdint>
#include <cstring>
#endif

namespace wno {

#if defined(__CUDACC__)
using half_t = __half;
WNO_HD WNO_FORCE_INLINE float to_float(half_t h) { return __half2float(h); }
WNO_HD WNO_FORCE_INLINE void from_float(float f, half_t& h) { h = __float2half_rn(f); }
#else
struct half_t {
  std::uint16_t bits;
};

inline std::uint16_t float_to_half_bits(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t mant = x & 0x7fffffu;
  const int exp = static_cast<int>((x >> 23) & 0xffu);
  if (exp == 255) return static_cast<std::uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));
  const int e = exp - 127 + 15;  // half exponent
  if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);
  std::uint32_t h, rem, tie;
  if (e <= 0) {  // subnormal half (or zero): value / 2^-24, rounded
    if (e < -10) return static_cast<std::uint16_t>(sign);
    const int shift = 14 - e;
    const std::uint32_t full = mant | 0x800000u;
    h = full >> shift;
    rem = full & ((1u << shift) - 1);
    tie = 1u << (shift - 1);
  } else {
    h = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
    rem = mant & 0x1fffu;
    tie = 0x1000u;
  }
  if (rem > tie || (rem == tie && (h & 1u))) ++h;  // a carry rolls into the exponent / inf
  return static_cast<std::uint16_t>(sign | h);
}

inline float half_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const int exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ffu, x;
  if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        mant <<= 1;
        ++e;
      } while (!(mant & 0x400u));
      x = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else {
    x = sign | (static_cast<std::uint32_t>(exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

inline float to_float(half_t h) { return half_bits_to_float(h.bits); }
inline void from_float(float f, half_t& h) { h.bits = float_to_half_bits(f); }
#endif

WNO_HD WNO_FORCE_INLINE float to_float(float f) { return f; }
WNO_HD WNO_FORCE_INLINE void from_float(float f, float& out) { out = f; }

}  // namespace wno
