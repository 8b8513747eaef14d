#include "isa.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace wno {
namespace {

#if defined(__x86_64__) || defined(_M_X64)
// $WNO_CPU_ISA caps the choice (to test or compare every path on one machine).
bool allowed(const char* name) {
  const char* want = std::getenv("WNO_CPU_ISA");
  if (!want || !*want) return true;
  for (const char* rank : {"generic", "avx2", "avx512"}) {  // ascending
    if (std::strcmp(rank, name) == 0) return true;
    if (std::strcmp(rank, want) == 0) return false;  // want ranks below name
  }
  return true;
}

Isa probe() {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  if (avx512 && allowed("avx512")) return Isa::avx512;
  if (avx2 && allowed("avx2")) return Isa::avx2;
  return Isa::generic;
}
#else
Isa probe() { return Isa::generic; }  // aarch64: NEON is baseline; others: portable vectors
#endif

}  // namespace

Isa chosen_isa() {
  static const Isa chosen = probe();
  return chosen;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    case Isa::generic:
      break;
  }
#if defined(__aarch64__)
  return "neon";
#else
  return "generic";
#endif
}

}  // namespace wno
