#include "thread_pool.h"

#include <pthread.h>

#include <cstdlib>
#include <mutex>
#include <thread>

#include "pool.h"

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

// The library's pool (pool.h), for callers that bring none (wno::Parallel without run): no
// thread until a call asks for more than one, then as many helpers as the most any call asked
// for. One call at a time (call): the C ABI may be called from several threads.
struct Shared {
  std::mutex call;
  Pool pool{1, false, 0, spin_ns()};
};

Shared* g_shared = nullptr;
std::once_flag g_shared_once;

// A forked child has none of the parent's threads: start over with a fresh pool
// (the old one is leaked on purpose, its mutexes may be held by vanished threads).
void reset_after_fork() { g_shared = new Shared(); }

Shared& shared() {
  std::call_once(g_shared_once, [] {
    g_shared = new Shared();  // never destroyed: helpers live until the process exits
    pthread_atfork(nullptr, nullptr, reset_after_fork);
  });
  return *g_shared;
}

}  // namespace

void parallel_for(long long n_tasks, int n_threads, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  if (n_threads > n_tasks) n_threads = static_cast<int>(n_tasks);
  if (n_threads <= 1) {
    for (long long t = 0; t < n_tasks; ++t) fn(ctx, t, 0);
    return;
  }
  Shared& s = shared();
  std::lock_guard<std::mutex> call(s.call);
  s.pool.grow(n_threads);
  s.pool.run(n_tasks, fn, ctx, n_threads);
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
