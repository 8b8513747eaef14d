// A small persistent thread pool: one parallel-for at a time, dynamic task handout.
// Own threads rather than OpenMP so the library does not bring a second OpenMP
// runtime into a process that already has PyTorch's.
#pragma once

namespace wno {

using TaskFn = void (*)(void* ctx, long long task, int worker);

// Runs fn(ctx, task, worker) for task in [0, n_tasks) on up to n_threads threads
// (the caller is worker 0); worker < n_threads indexes per-thread scratch. Blocks
// until every task is done. Thread-safe: concurrent calls run one after another.
void parallel_for(long long n_tasks, int n_threads, TaskFn fn, void* ctx);

// Hardware threads, or $WNO_NUM_THREADS when set.
int default_num_threads();

}  // namespace wno
