#include "thread_pool.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define WNO_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define WNO_PAUSE() asm volatile("yield")
#else
#define WNO_PAUSE() ((void)0)
#endif

namespace wno {
namespace {

// Helpers spin this long after a call before they sleep, so back-to-back calls (the
// layers of a network, 0.1-1 ms each) do not pay a futex wake-up (tens of microseconds
// on a loaded machine) per call. Short, like libgomp's default spin, because a spinning
// helper takes a core from whatever runs between the calls (torch's own threads, the
// rest of a network). $WNO_SPIN_US overrides it (0: sleep at once).
long long spin_ns() {
  static const long long ns = [] {
    const char* env = std::getenv("WNO_SPIN_US");
    return env && *env ? 1000LL * std::atoll(env) : 300000LL;
  }();
  return ns;
}

// One call at a time (call_mu_). The caller works too and waits only for helpers that
// actually joined: a helper the OS has not scheduled by the time all tasks are claimed
// is simply not waited for, so a busy core (shared machine) delays a call by no more
// than its work.
//
// state_ packs the call's generation (bits 17..63), a closed flag (bit 16) and the
// number of helpers inside it (bits 0..15). A helper joins with a CAS that checks the
// generation and the flag, so it can never join a call other than the one it saw.
class ThreadPool {
 public:
  void run(long long n_tasks, int n_threads, TaskFn fn, void* ctx) {
    std::lock_guard<std::mutex> call(call_mu_);
    grow(n_threads - 1);
    fn_ = fn;
    ctx_ = ctx;
    n_tasks_ = n_tasks;
    helpers_ = n_threads - 1;
    next_.store(0, std::memory_order_relaxed);
    generation_ += 1;
    state_.store(generation_ << kGenShift, std::memory_order_seq_cst);  // publishes the above
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(mu_);  // a sleeper is in wait() or sees the new state
      wake_.notify_all();
    }
    work(0);
    // Every task is claimed: late helpers stay out; wait for those inside.
    std::uint64_t s = state_.fetch_or(kClosed, std::memory_order_acq_rel) | kClosed;
    for (int spins = 0; (s & kActiveMask) != 0; ++spins) {
      if (spins < 1024) {
        WNO_PAUSE();
      } else {
        std::this_thread::yield();  // a helper was preempted mid-task
      }
      s = state_.load(std::memory_order_acquire);
    }
  }

 private:
  static constexpr int kGenShift = 17;
  static constexpr std::uint64_t kClosed = 1ull << 16, kActiveMask = kClosed - 1;

  void grow(int helpers) {
    while (static_cast<int>(threads_.size()) < helpers) {
      const int index = static_cast<int>(threads_.size()) + 1;
      // Never joined: the pool lives until the process exits (see reset_after_fork).
      threads_.push_back(new std::thread([this, index] { loop(index); }));
      threads_.back()->detach();
    }
  }

  // Waits for a call newer than `seen`: spins for spin_ns(), then sleeps.
  std::uint64_t wait_for_call(std::uint64_t seen) {
    const auto start = std::chrono::steady_clock::now();
    const long long budget = spin_ns();
    for (int spins = 0;; ++spins) {
      const std::uint64_t s = state_.load(std::memory_order_acquire);
      if ((s >> kGenShift) != seen) return s;
      WNO_PAUSE();
      if ((spins & 255) == 255 && std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::steady_clock::now() - start)
                                          .count() >= budget)
        break;
    }
    std::unique_lock<std::mutex> lock(mu_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    std::uint64_t s = 0;
    wake_.wait(lock, [&] {
      s = state_.load(std::memory_order_seq_cst);
      return (s >> kGenShift) != seen;
    });
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return s;
  }

  void loop(int index) {
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t s = wait_for_call(seen);
      seen = s >> kGenShift;
      // Join unless closed or not wanted; the CAS fails if the call moved on meanwhile.
      bool joined = false;
      while (!(s & kClosed) && (s >> kGenShift) == seen) {
        if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                         std::memory_order_acquire)) {
          joined = true;
          break;
        }
      }
      if (!joined) continue;
      if (index <= helpers_) work(index);
      state_.fetch_sub(1, std::memory_order_release);
    }
  }

  void work(int worker) {
    for (;;) {
      const long long task = next_.fetch_add(1, std::memory_order_relaxed);
      if (task >= n_tasks_) return;
      fn_(ctx_, task, worker);
    }
  }

  std::mutex call_mu_, mu_;
  std::condition_variable wake_;
  std::vector<std::thread*> threads_;
  std::atomic<std::uint64_t> state_{0};
  std::atomic<int> sleepers_{0};
  std::uint64_t generation_ = 0;  // written by the caller only
  // The call: written before state_ publishes it, read by helpers after joining.
  int helpers_ = 0;
  std::atomic<long long> next_{0};
  long long n_tasks_ = 0;
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
};

ThreadPool* g_pool = nullptr;
std::once_flag g_pool_once;

// A forked child has none of the parent's threads: start over with a fresh pool
// (the old one is leaked on purpose, its mutexes may be held by vanished threads).
void reset_after_fork() { g_pool = new ThreadPool(); }

ThreadPool& pool() {
  std::call_once(g_pool_once, [] {
    g_pool = new ThreadPool();
    pthread_atfork(nullptr, nullptr, reset_after_fork);
  });
  return *g_pool;
}

}  // namespace

void parallel_for(long long n_tasks, int n_threads, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  if (n_threads > n_tasks) n_threads = static_cast<int>(n_tasks);
  if (n_threads <= 1) {
    for (long long t = 0; t < n_tasks; ++t) fn(ctx, t, 0);
    return;
  }
  pool().run(n_tasks, n_threads, fn, ctx);
}

int default_num_threads() {
  if (const char* env = std::getenv("WNO_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

}  // namespace wno
