// Picks the engine loops' ISA once, as the Winograd kernel does ($WNO_CPU_ISA caps it too).
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "compute.h"

namespace wno::engine {
namespace {

#if defined(__x86_64__) || defined(_M_X64)
bool allowed(const char* name) {
  const char* want = std::getenv("WNO_CPU_ISA");
  if (!want || !*want) return true;
  for (const char* rank : {"generic", "avx2", "avx512"}) {
    if (std::strcmp(rank, name) == 0) return true;
    if (std::strcmp(rank, want) == 0) return false;
  }
  return true;
}

const Kernels& choose() {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  if (avx512 && allowed("avx512")) return wno_engine_avx512::kernels();
  if (avx2 && allowed("avx2")) return wno_engine_avx2::kernels();
  return wno_engine_generic::kernels();
}
#else
const Kernels& choose() { return wno_engine_generic::kernels(); }
#endif

}  // namespace

const Kernels& pick_kernels() {
  static const Kernels& chosen = choose();
  return chosen;
}

}  // namespace wno::engine
