/* __cpu_indicator_init for builds with zig (runtime/cmake/zig.cmake, x86_64 only).
 *
 * zig's compiler-rt defines __cpu_model and __cpu_indicator_init as a stub that reports no
 * feature (lib/compiler_rt/fmv.zig, 0.17: "a conservative stub for now"), so
 * __builtin_cpu_supports("avx2") is false on every CPU and src/cpu/isa.cpp would pick the generic
 * loops. zig.cmake links this file into every target instead (its definitions are strong,
 * compiler-rt's weak). It fills the word of GCC's and LLVM's common layout that holds features
 * 0-31 of their ProcessorFeatures enum, with the operating system's register-state checks (XGETBV)
 * for AVX and AVX-512, as libgcc and LLVM's compiler-rt do; the vendor and model fields and
 * __cpu_features2 stay 0, so __builtin_cpu_is() and the later features answer "no". */
#include <cpuid.h>

struct wno_cpu_model {
  unsigned int vendor, type, subtype;
  unsigned int features[1];
};

__attribute__((visibility("hidden"))) struct wno_cpu_model __cpu_model;
__attribute__((visibility("hidden"))) unsigned int __cpu_features2[4];

/* Bit positions: GCC's and LLVM's ProcessorFeatures. */
enum {
  F_CMOV = 0,
  F_MMX = 1,
  F_POPCNT = 2,
  F_SSE = 3,
  F_SSE2 = 4,
  F_SSE3 = 5,
  F_SSSE3 = 6,
  F_SSE4_1 = 7,
  F_SSE4_2 = 8,
  F_AVX = 9,
  F_AVX2 = 10,
  F_FMA = 14,
  F_AVX512F = 15,
  F_BMI = 16,
  F_BMI2 = 17,
  F_AES = 18,
  F_PCLMUL = 19,
  F_AVX512VL = 20,
  F_AVX512BW = 21,
  F_AVX512DQ = 22,
  F_AVX512CD = 23,
  F_AVX512VBMI = 26,
  F_AVX512IFMA = 27,
  F_AVX512VPOPCNTDQ = 30,
  F_AVX512VBMI2 = 31
};

static unsigned int bit(unsigned int reg, int n, int feature) {
  return ((reg >> n) & 1u) << feature;
}

__attribute__((visibility("hidden"), constructor(101))) int __cpu_indicator_init(void) {
  unsigned int a, b, c, d, f = 0;
  if (__cpu_model.vendor) return 0; /* done */
  if (!__get_cpuid(1, &a, &b, &c, &d)) return -1;
  f |= bit(d, 15, F_CMOV) | bit(d, 23, F_MMX) | bit(d, 25, F_SSE) | bit(d, 26, F_SSE2);
  f |= bit(c, 0, F_SSE3) | bit(c, 1, F_PCLMUL) | bit(c, 9, F_SSSE3) | bit(c, 19, F_SSE4_1);
  f |= bit(c, 20, F_SSE4_2) | bit(c, 23, F_POPCNT) | bit(c, 25, F_AES);
  /* AVX state enabled by the OS (OSXSAVE, XCR0 bits 1-2), AVX-512 state too (XCR0 bits 5-7) */
  unsigned int xcr0 = 0;
  if ((c >> 27) & 1u) {
    unsigned int hi;
    __asm__("xgetbv" : "=a"(xcr0), "=d"(hi) : "c"(0));
  }
  const int avx = ((c >> 28) & 1u) && (xcr0 & 0x6u) == 0x6u;
  const int avx512 = avx && (xcr0 & 0xe0u) == 0xe0u;
  if (avx) f |= (1u << F_AVX) | bit(c, 12, F_FMA);
  unsigned int max_leaf = __get_cpuid_max(0, 0);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f |= bit(b, 3, F_BMI) | bit(b, 8, F_BMI2);
    if (avx) f |= bit(b, 5, F_AVX2);
    if (avx512) {
      f |= bit(b, 16, F_AVX512F) | bit(b, 17, F_AVX512DQ) | bit(b, 21, F_AVX512IFMA) |
           bit(b, 28, F_AVX512CD);
      f |= bit(b, 30, F_AVX512BW) | bit(b, 31, F_AVX512VL) | bit(c, 1, F_AVX512VBMI) |
           bit(c, 6, F_AVX512VBMI2);
      f |= bit(c, 14, F_AVX512VPOPCNTDQ);
    }
  }
  __cpu_model.features[0] = f;
  __cpu_model.vendor =
      3; /* VENDOR_OTHER: "initialised"; __builtin_cpu_is() compares other values */
  return 0;
}
