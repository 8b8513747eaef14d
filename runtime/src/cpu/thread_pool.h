// The kernel's parallel-for: on the library's own pool (pool.h, the class the engine uses too),
// one parallel-for at a time, or on a caller's (wno::Parallel).
// Own threads rather than OpenMP so the library does not bring a second OpenMP
// runtime into a process that already has PyTorch's.
#pragma once

namespace wno {

using TaskFn = void (*)(void* ctx, long long task, int worker);

// Runs fn(ctx, task, worker) for task in [0, n_tasks) on up to n_threads threads
// (the caller is worker 0; fewer while the machine's cores are busy: pool.h); worker <
// n_threads indexes per-thread scratch. Blocks until every task is done. Thread-safe:
// concurrent calls run one after another.
void parallel_for(long long n_tasks, int n_threads, TaskFn fn, void* ctx);

// Hardware threads, or $WNO_NUM_THREADS when set.
int default_num_threads();

// Where the kernel's parallel-fors run: this library's pool (run == null), or a caller's
// (an engine with a pool of its own: two pools would compete for the same cores).
struct Parallel {
  void (*run)(void* pool, long long n_tasks, TaskFn fn, void* ctx) = nullptr;
  void* pool = nullptr;
  int threads = 1;  // workers the pool runs; worker indices are < threads
  // The caller evens the threads out (its own tasks share the kernel's regions, as the engine's
  // spectral mixing shares its conv's): the kernel sizes its blocks for speed alone.
  bool balanced = false;

  void operator()(long long n_tasks, TaskFn fn, void* ctx) const {
    if (run)
      run(pool, n_tasks, fn, ctx);
    else
      parallel_for(n_tasks, threads, fn, ctx);
  }
};

}  // namespace wno
