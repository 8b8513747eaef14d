// The C ABI (wno/engine.h): opening a file or bytes, the warm-up run, shapes, plan, profile.
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_impl.h"
#include "wno/engine.h"

// ---- C ABI ----------------------------------------------------------------------------------

struct wno_engine {
  wno::engine::Engine e;
};

namespace {

void set_error(char* error, std::size_t size, const std::string& message) {
  if (!error || size == 0) return;
  const std::size_t n = std::min(size - 1, message.size());
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

wno_status open_source(const wno::engine::Source& src, const wno_engine_options* options,
                       wno_engine** engine, char* error, std::size_t error_size,
                       const std::string& what) {
  wno_engine_options opt;
  wno_engine_default_options(&opt);
  if (options) opt = *options;
  std::unique_ptr<wno_engine> e;
  try {
    e.reset(new wno_engine());
    const wno::engine::Error err = wno::engine::load(src, opt, &e->e);
    if (err.status != WNO_SUCCESS) {
      set_error(error, error_size, what + ": " + err.message);
      return err.status;
    }
    // One run on zeros: starts the kernel's threads and touches every page, so the first
    // real run allocates nothing and takes no page faults.
    std::vector<float> x(static_cast<std::size_t>(e->e.input_elements())),
        y(static_cast<std::size_t>(e->e.output_elements()));
    const bool profile = e->e.profile;
    e->e.profile = false;
    const wno_status st = e->e.run(x.data(), y.data());
    e->e.profile = profile;
    if (st != WNO_SUCCESS) {
      set_error(error, error_size, what + ": the first run failed: " + wno_status_string(st));
      return st;
    }
  } catch (const std::bad_alloc&) {
    set_error(error, error_size, what + ": out of memory");
    return WNO_ERROR_OUT_OF_MEMORY;
  } catch (...) {
    set_error(error, error_size, what + ": internal error while loading");
    return WNO_ERROR_INTERNAL;
  }
  set_error(error, error_size, "");
  *engine = e.release();
  return WNO_SUCCESS;
}

}  // namespace

extern "C" {

int wno_engine_abi_version(void) { return WNO_ENGINE_ABI_VERSION; }

void wno_engine_default_options(wno_engine_options* o) {
  if (!o) return;
  *o = wno_engine_options{};
  o->verify_checksum = 1;
  o->max_memory_mb = static_cast<int>(wno::engine::kDefaultMaxMemoryMb);
}

wno_status wno_engine_open_memory(const void* data, size_t size, const wno_engine_options* options,
                                  wno_engine** engine, char* error, size_t error_size) {
  if (!engine) return WNO_ERROR_INVALID_ARGUMENT;
  *engine = nullptr;
  if (!data && size) {
    set_error(error, error_size, "no data");
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  wno::engine::Source src;
  src.data = static_cast<const std::uint8_t*>(data);
  src.size = size;
  return open_source(src, options, engine, error, error_size, "model");
}

wno_status wno_engine_open(const char* path, const wno_engine_options* options, wno_engine** engine,
                           char* error, size_t error_size) {
  if (!engine) return WNO_ERROR_INVALID_ARGUMENT;
  *engine = nullptr;
  if (!path) {
    set_error(error, error_size, "no path");
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  // A private read-only mapping: nothing is copied, and the pages are dropped as they are read.
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below, like any file
  // that is not regular); it changes nothing for a regular file.
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    set_error(error, error_size, std::string(path) + ": cannot open");
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > wno::engine::kMaxFileBytes) {
    ::close(fd);
    set_error(error, error_size,
              std::string(path) + (S_ISDIR(st.st_mode) ? ": is a directory"
                                   : !S_ISREG(st.st_mode)
                                       ? ": not a regular file (a FIFO, socket or device)"
                                       : ": larger than 2 GiB"));
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  wno::engine::Source src;
  src.size = static_cast<std::size_t>(st.st_size);
  void* map = nullptr;
  if (src.size) {
    map = mmap(nullptr, src.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      set_error(error, error_size, std::string(path) + ": cannot read");
      return WNO_ERROR_INVALID_ARGUMENT;
    }
    src.data = static_cast<const std::uint8_t*>(map);
    src.mapped = true;
  }
  ::close(fd);
  const wno_status status = open_source(src, options, engine, error, error_size, path);
  if (map) munmap(map, src.size);
  return status;
}

void wno_engine_close(wno_engine* engine) { delete engine; }

wno_status wno_engine_run(wno_engine* engine, const float* input, float* output) {
  if (!engine || !input || !output) return WNO_ERROR_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(engine->e.run_mu);
  return engine->e.run(input, output);
}

wno_status wno_engine_shape(const wno_engine* engine, int which, int dims[4]) {
  if (!engine || !dims || (which != 0 && which != 1)) return WNO_ERROR_INVALID_ARGUMENT;
  const std::vector<long long>& d = which == 0 ? engine->e.in_dims : engine->e.out_dims;
  if (d.size() != 4) return WNO_ERROR_UNSUPPORTED;
  for (int i = 0; i < 4; ++i) dims[i] = static_cast<int>(d[static_cast<std::size_t>(i)]);
  return WNO_SUCCESS;
}

int wno_engine_rank(const wno_engine* engine, int which) {
  if (!engine || (which != 0 && which != 1)) return -1;
  return static_cast<int>((which == 0 ? engine->e.in_dims : engine->e.out_dims).size());
}

wno_status wno_engine_dims(const wno_engine* engine, int which, long long* dims, int count) {
  const int rank = wno_engine_rank(engine, which);
  if (rank < 0 || !dims || count < rank) return WNO_ERROR_INVALID_ARGUMENT;
  const std::vector<long long>& d = which == 0 ? engine->e.in_dims : engine->e.out_dims;
  for (int i = 0; i < rank; ++i) dims[i] = d[static_cast<std::size_t>(i)];
  return WNO_SUCCESS;
}

const char* wno_engine_plan(const wno_engine* engine) {
  return engine ? engine->e.plan.c_str() : "";
}

const char* wno_engine_config_json(const wno_engine* engine) {
  return engine ? engine->e.config_json.c_str() : "";
}

size_t wno_engine_arena_bytes(const wno_engine* engine) {
  return engine ? engine->e.arena_bytes : 0;
}

int wno_engine_num_threads(const wno_engine* engine) {
  return engine ? engine->e.pool->threads() : 0;
}

const char* wno_engine_isa(void) { return wno::engine::pick_kernels().isa; }

int wno_engine_stage_count(const wno_engine* engine) {
  return engine ? static_cast<int>(engine->e.stage_names.size()) : 0;
}

const char* wno_engine_stage_name(const wno_engine* engine, int stage) {
  if (!engine || stage < 0 || stage >= wno_engine_stage_count(engine)) return "";
  return engine->e.stage_names[static_cast<std::size_t>(stage)].c_str();
}

wno_status wno_engine_stage_times(const wno_engine* engine, double* seconds, int count,
                                  long long* runs) {
  if (!engine || (count > 0 && !seconds)) return WNO_ERROR_INVALID_ARGUMENT;
  wno_engine* e = const_cast<wno_engine*>(engine);
  std::lock_guard<std::mutex> lock(e->e.run_mu);
  for (int i = 0; i < count && i < wno_engine_stage_count(engine); ++i)
    seconds[i] = e->e.stage_s[static_cast<std::size_t>(i)];
  if (runs) *runs = e->e.runs;
  return WNO_SUCCESS;
}

void wno_engine_reset_stage_times(wno_engine* engine) {
  if (!engine) return;
  std::lock_guard<std::mutex> lock(engine->e.run_mu);
  std::fill(engine->e.stage_s.begin(), engine->e.stage_s.end(), 0.0);
  engine->e.runs = 0;
}

}  // extern "C"
