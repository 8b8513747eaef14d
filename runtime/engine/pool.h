// The engine's thread pool is the CPU code's one (src/cpu/pool.h): one per engine, threads
// started at load (none during a run), helpers optionally pinned, parked between runs.
#pragma once

#include "../src/cpu/pool.h"

namespace wno::engine {

using Pool = wno::Pool;
using wno::parallel;

}  // namespace wno::engine
