// The one thread pool of the CPU code: the engine's (one per engine: threads started at load,
// none during a run, helpers optionally pinned to cores) and the Winograd kernel's process-wide
// one behind parallel_for (thread_pool.h: helpers started on demand). Task handout: each worker
// claims its own contiguous range of a region's tasks, then the rest of the others' (stealing);
// the calling thread is worker 0. Helpers poll for a while after a parallel region (the next one
// usually follows within microseconds) unless parked, then sleep on a condition variable, so an
// idle pool costs no CPU.
//
// Busy cores: a region uses no more workers than the machine has cores to spare. Every 1 ms
// the caller reads how many threads are runnable (Linux: /proc/loadavg), less itself and this
// pool's awake helpers; a region runs on at most (online CPUs - their moving average) workers
// (fit() in pool.cpp). With one competing busy process on two cores the regions run on the
// caller alone and the helpers sleep: three threads that want a core on two cores would
// otherwise take turns, and each region would wait for whichever is descheduled (a spinning
// helper holding the core its caller needs, or a helper preempted in the middle of a task).
// Which worker runs a task never changes a result (tasks write disjoint outputs), so results
// are bitwise the same.
// $WNO_POOL_ADAPT=0: every region on every worker it asks for (cores reserved for the engine,
// e.g. isolated cores with pinned helpers, where other threads' load is no concern).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wno {

class Pool {
 public:
  using Fn = void (*)(void* ctx, long long task, int worker);

  // threads >= 1 (the calling thread counts as worker 0); pin_helpers: helper i (1..threads-1)
  // on CPU first_cpu + i. The calling thread is whichever thread runs the engine, so pinning
  // it is the application's choice (the example control loop pins itself to first_cpu).
  // spin_ns < 0: helpers poll a fixed number of pauses after a region (the engine's); else
  // for spin_ns nanoseconds (the kernel's pool: $WNO_SPIN_US).
  // Throws std::system_error if a thread cannot be started.
  Pool(int threads, bool pin_helpers, int first_cpu, long long spin_ns = -1);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  int threads() const { return threads_; }
  // Runs fn(ctx, t, worker) for t in [0, n); returns when all are done. Not reentrant.
  // Fewer workers than asked for when the machine's cores are busy (above).
  void run(long long n, Fn fn, void* ctx) { run(n, fn, ctx, threads_); }
  // The same on workers [0, workers) at most (1 <= workers <= threads()); the others stay out.
  void run(long long n, Fn fn, void* ctx, int workers);
  // Starts unpinned helpers until threads() is at least `threads`. Not during a run.
  // Throws std::system_error if a thread cannot be started (those started before stay).
  void grow(int threads);
  // Helpers stop polling and sleep until the next run() (before work on other threads).
  void park() { parked_.store(true, std::memory_order_relaxed); }
  // Empty, or a message if pinning was asked for and failed.
  const std::string& pin_error() const { return pin_error_; }

 private:
  int fit(int workers);
  int others();
  void start_helper(bool pin_it, int cpu);
  void loop(int worker);
  unsigned long long poll(unsigned long long seen);
  void work(int worker);
  static bool pin(std::thread& t, int cpu);

  int threads_ = 1;
  const long long spin_ns_;
  std::vector<std::thread> helpers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::atomic<unsigned long long> generation_{0};
  std::atomic<int> active_{0}, sleeping_{0};
  std::atomic<bool> parked_{false}, open_{false}, waiting_{false}, stop_flag_{false};
  // A region's tasks in one contiguous range per worker, claimed from its front by that worker
  // and, once their own are done, by the others: the same worker gets the same part of each
  // region (a layer's channels, an image's rows), whose data its cache holds from the last one.
  struct alignas(64) Range {
    std::atomic<long long> next{0};
    long long end = 0;
  };
  std::unique_ptr<Range[]> ranges_;  // threads_ of them
  int workers_ = 1;
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  bool stop_ = false;
  std::string pin_error_;
  // fit()'s: the caller's (run() is not reentrant). load_: the other runnable threads, moving
  // average; cap_: the workers a region runs on at most.
  int loadavg_fd_ = -1, cpus_ = 0, cap_ = 1 << 30;
  double load_ = 0;
  long long last_sample_ns_ = 0;
  long long stall_us_ = 0;  // $WNO_TEST_HELPER_STALL_US (tests): worker 1 sleeps before each task
};

// A Pool::Fn that calls the callable of type F at ctx: f(task, worker).
template <class F>
Pool::Fn callable_fn() {
  return [](void* ctx, long long t, int worker) { (*static_cast<F*>(ctx))(t, worker); };
}

// Runs f(task, worker) for task in [0, n) on pool: any callable, by reference.
template <class F>
void parallel(Pool& pool, long long n, F& f) {
  pool.run(n, callable_fn<F>(), &f);
}

}  // namespace wno
