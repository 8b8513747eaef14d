#include "pool.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(__linux__)
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#endif

namespace wno {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
// Helpers poll up to ~kSpin pauses for the next region (a run's regions, the Winograd
// kernel's included, follow each other within microseconds) unless parked: the engine parks
// them at the end of a run. The caller waits as long for helpers still inside a region.
constexpr int kSpin = 20000;
// The caller reads the load at most once a millisecond (a read of /proc/loadavg: about a
// microsecond), into a moving average of time constant kTauNs (fit()).
constexpr long long kSampleNs = 1000000, kTauNs = 8000000;

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

long long env_ll(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : 0;
}

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

Pool::Pool(int threads, bool pin_helpers, int first_cpu, long long spin_ns)
    : spin_ns_(spin_ns), stall_us_(env_ll("WNO_TEST_HELPER_STALL_US")) {
#if defined(__linux__)
  const char* adapt = std::getenv("WNO_POOL_ADAPT");
  if (!adapt || std::strcmp(adapt, "0") != 0) {
    loadavg_fd_ = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    cpus_ = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    cap_ = cpus_;
    if (cpus_ < 1 && loadavg_fd_ >= 0) {
      close(loadavg_fd_);
      loadavg_fd_ = -1;
    }
  }
#endif
  const int want = threads < 1 ? 1 : threads;
  ranges_.reset(new Range[want]);
  helpers_.reserve(want - 1);
  while (threads_ < want) start_helper(pin_helpers, first_cpu + threads_);
}

void Pool::grow(int threads) {
  if (threads <= threads_) return;
  ranges_.reset(new Range[threads]);  // no region is open: no worker reads them
  while (threads_ < threads) start_helper(false, 0);
}

// Helper threads_ (the next worker index), pinned to `cpu` if asked.
void Pool::start_helper(bool pin_it, int cpu) {
  const int i = threads_;
  helpers_.emplace_back([this, i] { loop(i); });
  threads_ = i + 1;
  if (pin_it && !pin(helpers_.back(), cpu) && pin_error_.empty())
    pin_error_ = "cannot pin worker " + std::to_string(i) + " to CPU " + std::to_string(cpu);
}

Pool::~Pool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    stop_flag_.store(true, std::memory_order_release);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (std::thread& t : helpers_) t.join();
#if defined(__linux__)
  if (loadavg_fd_ >= 0) close(loadavg_fd_);
#endif
}

// Runnable threads other than the caller and this pool's awake helpers, from the fourth field
// of /proc/loadavg ("runnable/total", the whole machine's); -1 if unknown.
int Pool::others() {
#if defined(__linux__)
  char text[128];
  const ssize_t len = pread(loadavg_fd_, text, sizeof text - 1, 0);
  if (len <= 0) return -1;
  text[len] = 0;
  const char* p = text;
  for (int field = 0; field < 3 && p; ++field) {
    p = std::strchr(p, ' ');
    if (p) ++p;
  }
  if (!p) return -1;
  const int runnable = std::atoi(p);
  const int awake = threads_ - 1 - sleeping_.load(std::memory_order_relaxed);
  return std::max(0, runnable - 1 - awake);
#else
  return -1;
#endif
}

// The workers a region asked for, capped by the cores to spare: online CPUs less a moving
// average of the other runnable threads (time constant 8 ms while regions follow each other;
// after a pause, such as a control loop's tick, a reading weighs half: the first two readings
// of a run tell a load that changed in between). The cap moves only when the cores to spare
// are 0.6 away from it: on 2 CPUs, one other thread runnable more than 60% of the time puts
// the regions on the caller alone, less than 40% back on both workers. A stray reading (a
// kernel thread's microseconds) moves the average by 1/8, not the cap.
int Pool::fit(int workers) {
  if (loadavg_fd_ < 0) return workers;
  const long long now = now_ns();
  if (now - last_sample_ns_ >= kSampleNs) {
    const int seen = others();
    if (seen >= 0) {
      const double weight =
          std::min(0.5, 1 - std::exp(-static_cast<double>(now - last_sample_ns_) / kTauNs));
      load_ += weight * (std::min(seen, cpus_) - load_);
      const double spare = cpus_ - load_;
      if (spare < cap_ - 0.6 || spare > cap_ + 0.6)
        cap_ = std::max(1, static_cast<int>(std::lround(spare)));
    }
    last_sample_ns_ = now;
  }
  return std::min(workers, cap_);
}

// The worker's own range, then the others' rest (a helper that is late or preempted loses
// its unclaimed tasks to the workers that are running). Returns when every task is claimed.
void Pool::work(int worker) {
  for (int i = 0; i < workers_; ++i) {
    Range& r = ranges_[(worker + i) % workers_];
    for (long long t; (t = r.next.fetch_add(1, std::memory_order_relaxed)) < r.end;) {
      if (stall_us_ > 0 && worker == 1)
        std::this_thread::sleep_for(std::chrono::microseconds(stall_us_));
      fn_(ctx_, t, worker);
    }
  }
}

// Polls for a region newer than `seen` (kSpin pauses, or spin_ns_ nanoseconds) unless parked;
// returns the generation last read.
unsigned long long Pool::poll(unsigned long long seen) {
  unsigned long long g = generation_.load(std::memory_order_acquire);
  if (spin_ns_ < 0) {
    for (int s = 0; g == seen && s < kSpin && !parked_.load(std::memory_order_relaxed); ++s) {
      cpu_relax();
      g = generation_.load(std::memory_order_acquire);
    }
  } else if (g == seen) {
    const auto start = std::chrono::steady_clock::now();
    for (int s = 1; g == seen && !parked_.load(std::memory_order_relaxed); ++s) {
      cpu_relax();
      g = generation_.load(std::memory_order_acquire);
      if ((s & 255) == 0 && std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - start)
                                    .count() >= spin_ns_)
        break;
    }
  }
  return g;
}

// A helper the OS has not scheduled by the time every task is claimed is not waited for
// (open_ is false when it arrives): a busy core delays a run by no more than its work. The
// caller never takes the mutex after handing out work (a helper preempted while holding it
// would stall the run for a time slice): joining is active_++ then a check of open_, closing
// is open_ = false then a check of active_, both sequentially consistent, so a helper either
// is counted before the caller looks or sees the region closed.
void Pool::loop(int worker) {
  unsigned long long seen = 0;
  bool left_out = false;  // by the last region (fewer workers): sleep rather than poll
  for (;;) {
    unsigned long long g = left_out ? generation_.load(std::memory_order_acquire) : poll(seen);
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleeping_.fetch_add(1, std::memory_order_relaxed);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
      sleeping_.fetch_sub(1, std::memory_order_relaxed);
      if (stop_) return;
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_flag_.load(std::memory_order_acquire)) return;
    active_.fetch_add(1, std::memory_order_seq_cst);
    // workers_ is read only while the region is open: run() does not return (nor start the
    // next region) before this helper leaves it.
    left_out = false;
    if (open_.load(std::memory_order_seq_cst)) {
      if (worker < workers_)
        work(worker);
      else
        left_out = true;
    }
    if (active_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        waiting_.load(std::memory_order_seq_cst)) {
      std::lock_guard<std::mutex> lock(mu_);
      done_.notify_one();
    }
  }
}

void Pool::run(long long n, Fn fn, void* ctx, int workers) {
  if (n <= 0) return;
  if (workers > 1 && threads_ > 1 && n > 1) workers = fit(workers);
  if (workers <= 1 || threads_ == 1 || n == 1) {
    for (long long t = 0; t < n; ++t) fn(ctx, t, 0);
    return;
  }
  parked_.store(false, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);  // no helper is inside work(): the last run waited
    fn_ = fn;
    ctx_ = ctx;
    workers_ = workers;
    for (int w = 0; w < workers; ++w) {
      ranges_[w].next.store(n * w / workers, std::memory_order_relaxed);
      ranges_[w].end = n * (w + 1) / workers;
    }
    open_.store(true, std::memory_order_seq_cst);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  work(0);
  open_.store(false, std::memory_order_seq_cst);  // every task is claimed: late helpers stay out
  for (int s = 0; active_.load(std::memory_order_seq_cst) != 0 && s < kSpin; ++s) cpu_relax();
  if (active_.load(std::memory_order_seq_cst) != 0) {
    std::unique_lock<std::mutex> lock(mu_);
    waiting_.store(true, std::memory_order_seq_cst);
    done_.wait(lock, [&] { return active_.load(std::memory_order_seq_cst) == 0; });
    waiting_.store(false, std::memory_order_relaxed);
  }
}

}  // namespace wno
