// The engine's own thread pool: threads started at load (none during a run), helpers optionally
// pinned to cores, dynamic task handout. Helpers poll for a while after a parallel region (the
// next region of a run usually follows within microseconds) unless parked, then sleep on a
// condition variable, so an idle engine costs no CPU.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wno::engine {

class Pool {
 public:
  using Fn = void (*)(void* ctx, long long task, int worker);

  // threads >= 1 (the calling thread counts as worker 0); pin_helpers: helper i (1..threads-1)
  // on CPU first_cpu + i. The calling thread is whichever thread runs the engine, so pinning
  // it is the application's choice (the example control loop pins itself to first_cpu).
  // Throws std::system_error if a thread cannot be started.
  Pool(int threads, bool pin_helpers, int first_cpu);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  int threads() const { return threads_; }
  // Runs fn(ctx, t, worker) for t in [0, n); returns when all are done. Not reentrant.
  void run(long long n, Fn fn, void* ctx);
  // Helpers stop polling and sleep until the next run() (before work on other threads).
  void park() { parked_.store(true, std::memory_order_relaxed); }
  // Empty, or a message if pinning was asked for and failed.
  const std::string& pin_error() const { return pin_error_; }

 private:
  void loop(int worker);
  void work(int worker);
  static bool pin(std::thread& t, int cpu);

  int threads_;
  std::vector<std::thread> helpers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::atomic<unsigned long long> generation_{0};
  std::atomic<int> active_{0};
  std::atomic<bool> parked_{false}, open_{false}, waiting_{false}, stop_flag_{false};
  std::atomic<long long> next_{0};
  long long n_ = 0;
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  bool stop_ = false;
  std::string pin_error_;
};

}  // namespace wno::engine
