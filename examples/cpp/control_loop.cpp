// Embedding the engine in a C++ control loop: load model.onnx through the C API, then run one
// inference per tick at a fixed rate on an absolute schedule, counting deadline misses.
//
//   control_loop model.onnx [--rate HZ] [--ticks N] [--threads T] [--pin CPU]
//
// A consumer of the installed package (find_package(wno_edge CONFIG), wno_edge::engine):
// README.md beside this file says how to build it.
//
// Each tick: read the "sensor" state (here a synthetic field), predict the next state, act on
// it (here: fold it back as the next input, an autoregressive rollout). A tick misses its
// deadline when it finishes after the next tick's start; the loop then skips ahead to the next
// future tick instead of running late ticks back to back. Prints the latency distribution.
#include <algorithm>
#include <cctype>
#include <cerrno>
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

using Clock = std::chrono::steady_clock;

// The tick period's range: at least one tick of the clock (a shorter one rounds to zero and
// the skip-ahead loop below never ends: --rate inf spun forever), at most a day (longer is no
// control loop, and the period then fits the clock's integer duration: 1e-300 Hz overflowed it).
constexpr double kMaxPeriodS = 86400;
constexpr double kMinPeriodS = std::chrono::duration<double>(Clock::duration(1)).count();
// The latencies are kept for the percentiles, 8 bytes a tick.
constexpr long kMaxTicks = 100000000;
constexpr long kMaxThreads = 1024;  // the engine's own limit
#if defined(__linux__)
constexpr long kMaxCpu = CPU_SETSIZE - 1;
#else
constexpr long kMaxCpu = 1023;
#endif

// Command-line numbers, strictly: the whole string (atoi/atof read "abc" as 0), no leading
// space, in range. False on anything else.
bool parse_long(const char* text, long lo, long hi, long* value) {
  if (!*text || std::isspace(static_cast<unsigned char>(*text))) return false;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *value = v;
  return true;
}

bool parse_rate(const char* text, double* rate, Clock::duration* period) {
  if (!*text || std::isspace(static_cast<unsigned char>(*text))) return false;
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (*end != '\0' || !std::isfinite(v) || !(v > 0)) return false;
  const double seconds = 1.0 / v;  // inf for the smallest subnormal rates: refused here
  if (!(seconds >= kMinPeriodS && seconds <= kMaxPeriodS)) return false;
  *period = std::chrono::round<Clock::duration>(std::chrono::duration<double>(seconds));
  if (period->count() < 1) return false;
  *rate = v;
  return true;
}

// One line on stderr and the usage error status.
int bad_argument(const char* option, const char* value, const char* expected) {
  std::fprintf(stderr, "error: %s must be %s, got '%.60s'\n", option, expected, value);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.onnx [--rate HZ] [--ticks N] [--threads T] [--pin CPU]\n",
                 argv[0]);
    return 2;
  }
  double rate = 100;
  Clock::duration period = std::chrono::milliseconds(10);
  int ticks = 200;
  wno_engine_options opt;
  wno_engine_default_options(&opt);
  opt.num_threads = 1;
  char rate_range[160];
  std::snprintf(rate_range, sizeof rate_range,
                "a number > 0 with a period from %g s to one day (%.3g to %g Hz)", kMinPeriodS,
                1 / kMaxPeriodS, 1 / kMinPeriodS);
  char ticks_range[64], threads_range[80], cpu_range[64];
  std::snprintf(ticks_range, sizeof ticks_range, "an integer from 1 to %ld", kMaxTicks);
  std::snprintf(threads_range, sizeof threads_range,
                "an integer from 0 (the engine's default) to %ld", kMaxThreads);
  std::snprintf(cpu_range, sizeof cpu_range, "a CPU number from 0 to %ld", kMaxCpu);
  for (int i = 2; i < argc; i += 2) {
    const char* name = argv[i];
    const bool known = !std::strcmp(name, "--rate") || !std::strcmp(name, "--ticks") ||
                       !std::strcmp(name, "--threads") || !std::strcmp(name, "--pin");
    if (!known) {
      std::fprintf(stderr, "error: unknown option '%.60s'\n", name);
      return 2;
    }
    if (i + 1 >= argc) {  // it used to be ignored
      std::fprintf(stderr, "error: %s needs a value\n", name);
      return 2;
    }
    const char* value = argv[i + 1];
    long n = 0;
    if (!std::strcmp(name, "--rate")) {
      if (!parse_rate(value, &rate, &period)) return bad_argument(name, value, rate_range);
    } else if (!std::strcmp(name, "--ticks")) {
      if (!parse_long(value, 1, kMaxTicks, &n)) return bad_argument(name, value, ticks_range);
      ticks = static_cast<int>(n);
    } else if (!std::strcmp(name, "--threads")) {
      if (!parse_long(value, 0, kMaxThreads, &n)) return bad_argument(name, value, threads_range);
      opt.num_threads = static_cast<int>(n);
    } else {
      if (!parse_long(value, 0, kMaxCpu, &n)) return bad_argument(name, value, cpu_range);
      opt.pin_threads = 1;
      opt.first_cpu = static_cast<int>(n);
    }
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

  std::vector<double> latency_ms;
  latency_ms.reserve(ticks);
  int misses = 0;
  long long skipped = 0;
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
      // Skip the ticks already past: never run late ticks back to back. Counted, not looped
      // over: with a nanosecond period that loop ran once per nanosecond late.
      const auto past = (end - next) / period + 1;  // the tick starts at or before end
      next += past * period;
      skipped += past - 1;  // the current tick is not a skip
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
  std::printf("%d ticks at %.1f Hz (deadline %.3f ms): %d deadline misses, %lld ticks skipped\n",
              ticks, rate, 1e3 / rate, misses, skipped);
  std::printf("latency ms: p50 %.3f  p99 %.3f  max %.3f\n", pct(0.5), pct(0.99), sorted.back());
  std::printf("peak resident memory: %.1f MiB\n", peak_rss_mib());
  wno_engine_close(engine);
  return 0;
}
