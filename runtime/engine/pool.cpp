#include "pool.h"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace wno::engine {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
// Helpers poll up to ~kSpin pauses for the next region (a run's regions follow each other
// within microseconds) unless parked: the engine parks them before the Winograd kernel's
// call, whose own threads need the cores.
constexpr int kSpin = 20000;
}  // namespace

bool Pool::pin(std::thread& t, int cpu) {
#if defined(__linux__)
  if (cpu < 0 || cpu >= CPU_SETSIZE) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(t.native_handle(), sizeof set, &set) == 0;
#else
  (void)t;
  (void)cpu;
  return false;
#endif
}

Pool::Pool(int threads, bool pin_helpers, int first_cpu) : threads_(threads < 1 ? 1 : threads) {
  helpers_.reserve(threads_ - 1);
  for (int i = 1; i < threads_; ++i) {
    helpers_.emplace_back([this, i] { loop(i); });
    if (pin_helpers && !pin(helpers_.back(), first_cpu + i) && pin_error_.empty())
      pin_error_ =
          "cannot pin worker " + std::to_string(i) + " to CPU " + std::to_string(first_cpu + i);
  }
}

Pool::~Pool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void Pool::work(int worker) {
  for (;;) {
    const long long t = next_.fetch_add(1, std::memory_order_relaxed);
    if (t >= n_) return;
    fn_(ctx_, t, worker);
  }
}

// A helper the OS has not scheduled by the time every task is claimed is not waited for
// (open_ is false when it arrives): a busy core delays a run by no more than its work.
void Pool::loop(int worker) {
  unsigned long long seen = 0;
  for (;;) {
    unsigned long long g = generation_.load(std::memory_order_acquire);
    for (int s = 0; g == seen && s < kSpin && !parked_.load(std::memory_order_relaxed); ++s) {
      cpu_relax();
      g = generation_.load(std::memory_order_acquire);
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (g == seen)
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
      seen = generation_.load(std::memory_order_relaxed);
      if (stop_) return;
      if (!open_) continue;
      active_.fetch_add(1, std::memory_order_relaxed);
    }
    work(worker);
    if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      done_.notify_one();
    }
  }
}

void Pool::run(long long n, Fn fn, void* ctx) {
  if (n <= 0) return;
  if (threads_ == 1 || n == 1) {
    for (long long t = 0; t < n; ++t) fn(ctx, t, 0);
    return;
  }
  parked_.store(false, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = fn;
    ctx_ = ctx;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    open_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  work(0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;  // every task is claimed: late helpers stay out
  }
  for (int s = 0; active_.load(std::memory_order_acquire) != 0 && s < kSpin; ++s) cpu_relax();
  if (active_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return active_.load(std::memory_order_acquire) == 0; });
  }
}

}  // namespace wno::engine
