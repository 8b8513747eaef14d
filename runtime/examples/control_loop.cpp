// Embedding the engine in a C++ control loop: load model.onnx through the C API, then run one
// inference per tick at a fixed rate on an absolute schedule, counting deadline misses.
//
//   wno_control_loop model.onnx [--rate HZ] [--ticks N] [--threads T] [--pin CPU]
//
// Each tick: read the "sensor" state (here a synthetic field), predict the next state, act on
// it (here: fold it back as the next input, an autoregressive rollout). A tick misses its
// deadline when it finishes after the next tick's start; the loop then skips ahead to the next
// future tick instead of running late ticks back to back. Prints the latency distribution.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "wno/engine.h"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace {

// Peak resident memory of this process in MiB (Linux VmHWM), or -1 where unavailable.
double peak_rss_mib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  double kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
  std::fclose(f);
  return kib < 0 ? -1 : kib / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.onnx [--rate HZ] [--ticks N] [--threads T] [--pin CPU]\n",
                 argv[0]);
    return 2;
  }
  double rate = 100;
  int ticks = 200;
  wno_engine_options opt;
  wno_engine_default_options(&opt);
  opt.num_threads = 1;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rate"))
      rate = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--ticks"))
      ticks = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads"))
      opt.num_threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--pin")) {
      opt.pin_threads = 1;
      opt.first_cpu = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (!(rate > 0) || ticks < 1) {
    std::fprintf(stderr, "--rate and --ticks must be positive\n");
    return 2;
  }

#if defined(__linux__)
  if (opt.pin_threads) {  // this thread is the engine's worker 0: CPU first_cpu, helpers after it
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(opt.first_cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
      std::fprintf(stderr, "warning: cannot pin the loop to CPU %d\n", opt.first_cpu);
  }
#endif
  wno_engine* engine = nullptr;
  char error[512];
  if (wno_engine_open(argv[1], &opt, &engine, error, sizeof error) != WNO_SUCCESS) {
    std::fprintf(stderr, "%s\n", error);
    return 1;
  }
  int in[4], out[4];
  wno_engine_shape(engine, 0, in);
  wno_engine_shape(engine, 1, out);
  const size_t nx = 1ULL * in[0] * in[1] * in[2] * in[3];
  const size_t ny = 1ULL * out[0] * out[1] * out[2] * out[3];
  std::vector<float> state(nx), prediction(ny);  // allocated once, before the loop
  for (size_t i = 0; i < nx; ++i) state[i] = 0.5f + 0.5f * std::sin(0.05f * static_cast<float>(i));

  using Clock = std::chrono::steady_clock;
  const auto period =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  std::vector<double> latency_ms;
  latency_ms.reserve(ticks);
  int misses = 0, skipped = 0;
  auto next = Clock::now() + period;
  for (int t = 0; t < ticks; ++t) {
    const auto start = Clock::now();
    if (wno_engine_run(engine, state.data(), prediction.data()) != WNO_SUCCESS) {
      std::fprintf(stderr, "run failed at tick %d\n", t);
      wno_engine_close(engine);
      return 1;
    }
    // Act: feed the prediction back when it has the input's shape (a rollout), bounded.
    if (ny == nx)
      for (size_t i = 0; i < nx; ++i) state[i] = std::clamp(prediction[i], -1e3f, 1e3f);
    const auto end = Clock::now();
    latency_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
    if (end > next) {
      ++misses;
      while (next <= end) {  // skip the ticks already past: never run late ticks back to back
        next += period;
        ++skipped;
      }
      --skipped;  // the current tick is not a skip
    }
    std::this_thread::sleep_until(next);
    next += period;
  }
  std::vector<double> sorted = latency_ms;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) { return sorted[static_cast<size_t>(p * (sorted.size() - 1))]; };
  std::printf("model %s: input %dx%dx%dx%d, %d threads, engine ISA %s, arena %.1f MiB\n", argv[1],
              in[0], in[1], in[2], in[3], wno_engine_num_threads(engine), wno_engine_isa(),
              wno_engine_arena_bytes(engine) / 1048576.0);
  std::printf("%d ticks at %.1f Hz (deadline %.3f ms): %d deadline misses, %d ticks skipped\n",
              ticks, rate, 1e3 / rate, misses, skipped);
  std::printf("latency ms: p50 %.3f  p99 %.3f  max %.3f\n", pct(0.5), pct(0.99), sorted.back());
  std::printf("peak resident memory: %.1f MiB\n", peak_rss_mib());
  wno_engine_close(engine);
  return 0;
}
