// The engine loops' build for the process's ISA: the one the Winograd kernel runs too
// (src/cpu/isa.h, capped by $WNO_CPU_ISA).
#include "../src/cpu/isa.h"
#include "compute.h"

namespace wno::engine {

const Kernels& pick_kernels() {
  switch (wno::chosen_isa()) {
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::avx512:
      return wno_engine_avx512::kernels();
    case Isa::avx2:
      return wno_engine_avx2::kernels();
#endif
    default:
      return wno_engine_generic::kernels();
  }
}

}  // namespace wno::engine
