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
  if (profile) {
    stage_s[0] += std::chrono::duration<double>(Clock::now() - t0).count();
    ++runs;
  }
  return WNO_SUCCESS;
}

}  // namespace wno::engine
