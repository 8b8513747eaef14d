// Running: the fused pipeline (fused_run.cpp) or the reference kernels, timed per plan stage.
#include <chrono>

#include "engine_impl.h"

namespace wno::engine {

using Clock = std::chrono::steady_clock;

long long Engine::input_elements() const {
  long long n = 1;
  for (const long long d : in_dims) n *= d;
  return n;
}

long long Engine::output_elements() const {
  long long n = 1;
  for (const long long d : out_dims) n *= d;
  return n;
}

wno_status Engine::run(const float* x, float* y) {
  if (!reference) {
    const wno_status s = run_fused(x, y);
    if (profile && s == WNO_SUCCESS) ++runs;
    return s;
  }
  const Clock::time_point t0 = profile ? Clock::now() : Clock::time_point{};
  reference->run(x, y);
  if (profile) {  // the reference kernels' stage: the run but the block
    stage_s.back() += std::chrono::duration<double>(Clock::now() - t0).count() - block_s;
    block_s = 0;
    ++runs;
  }
  return WNO_SUCCESS;
}

void Engine::run_block(const float* in, float* out) {
  const Clock::time_point t0 = profile ? Clock::now() : Clock::time_point{};
  run_fused(in, out);  // its stages cannot fail: every size was checked at load
  if (profile) block_s += std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace wno::engine
