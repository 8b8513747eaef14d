// Proves that wno_engine_run allocates nothing: replaces malloc/calloc/realloc/free (glibc's
// __libc_* underneath) and operator new, counts every call on every thread, and runs the
// engine many times after loading.   wno_engine_alloc_test model.onnx [threads] [runs]
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "wno/engine.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

static std::atomic<long long> g_allocations{0};

extern "C" {
void* malloc(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t align, size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, n);
}
void* memalign(size_t align, size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  *out = __libc_memalign(align, n);
  return *out ? 0 : 12;
}
void free(void* p) { __libc_free(p); }
}

void* operator new(size_t n) {
  void* p = malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.onnx [threads] [runs]\n", argv[0]);
    return 2;
  }
  wno_engine_options o;
  wno_engine_default_options(&o);
  o.num_threads = argc > 2 ? std::atoi(argv[2]) : 2;
  o.profile = 1;  // the profiling path too
  const int runs = argc > 3 ? std::atoi(argv[3]) : 50;
  wno_engine* e = nullptr;
  char err[512];
  const long long before_open = g_allocations.load();
  if (wno_engine_open(argv[1], &o, &e, err, sizeof err) != WNO_SUCCESS) {
    std::fprintf(stderr, "open failed: %s\n", err);
    return 1;
  }
  const long long at_open = g_allocations.load() - before_open;
  int in[4], out[4];
  wno_engine_shape(e, 0, in);
  wno_engine_shape(e, 1, out);
  std::vector<float> x(1ULL * in[0] * in[1] * in[2] * in[3]),
      y(1ULL * out[0] * out[1] * out[2] * out[3]);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.f;
  const long long start = g_allocations.load();
  for (int r = 0; r < runs; ++r) {
    if (wno_engine_run(e, x.data(), y.data()) != WNO_SUCCESS) {
      std::fprintf(stderr, "run failed\n");
      return 1;
    }
  }
  const long long during = g_allocations.load() - start;
  std::printf(
      "allocations: %lld while loading, %lld during %d runs (%d threads, arena %zu bytes)\n",
      at_open, during, runs, wno_engine_num_threads(e), wno_engine_arena_bytes(e));
  wno_engine_close(e);
  return during == 0 ? 0 : 1;
}
