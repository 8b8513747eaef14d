// The one ISA choice of the CPU code: the Winograd kernel (cpu_api.cpp) and the engine's loops
// (engine/dispatch.cpp) both run the translation units built for chosen_isa().
#pragma once

namespace wno {

// The vector ISAs the per-ISA sources are compiled for, ascending. generic is SSE2 on x86-64
// and NEON on aarch64 (its baseline, so aarch64 never has another).
enum class Isa { generic, avx2, avx512 };

// The best ISA the running CPU supports, capped by $WNO_CPU_ISA ("generic", "avx2" or
// "avx512"; any other value, or none, caps nothing; x86-64 only). Probed on the first call,
// then fixed for the process.
Isa chosen_isa();

// "generic", "avx2", "avx512"; generic is "neon" on aarch64.
const char* isa_name(Isa isa);

}  // namespace wno
