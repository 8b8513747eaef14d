#include "thread_pool.h"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace wno {
namespace {

// The caller works too and waits only for helpers that actually joined: a helper the
// OS has not scheduled by the time all tasks are claimed is simply not waited for,
// so a busy core (shared machine) delays a call by no more than its work.
class ThreadPool {
 public:
  void run(long long n_tasks, int n_threads, TaskFn fn, void* ctx) {
    std::lock_guard<std::mutex> call(call_mu_);
    grow(n_threads - 1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = fn;
      ctx_ = ctx;
      n_tasks_ = n_tasks;
      next_.store(0, std::memory_order_relaxed);
      helpers_ = n_threads - 1;
      open_ = true;
      ++generation_;
    }
    wake_.notify_all();
    work(0);
    std::unique_lock<std::mutex> lock(mu_);
    open_ = false;  // every task is claimed: late helpers stay out
    done_.wait(lock, [&] { return active_ == 0; });
  }

 private:
  void grow(int helpers) {
    while (static_cast<int>(threads_.size()) < helpers) {
      const int index = static_cast<int>(threads_.size()) + 1;
      // Never joined: the pool lives until the process exits (see reset_after_fork).
      threads_.push_back(new std::thread([this, index] { loop(index); }));
      threads_.back()->detach();
    }
  }

  void loop(int index) {
    unsigned long long seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (!open_ || index > helpers_) continue;
      ++active_;
      lock.unlock();
      work(index);
      lock.lock();
      if (--active_ == 0) done_.notify_one();
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
  std::condition_variable wake_, done_;
  std::vector<std::thread*> threads_;
  unsigned long long generation_ = 0;
  int helpers_ = 0, active_ = 0;
  bool open_ = false;
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
