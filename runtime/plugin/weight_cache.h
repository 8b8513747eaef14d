// Plugin-owned transformed weights: one device copy per plugin object, made on the first
// enqueue and remade only when the WeightKey changes. CUDA runtime and the kernel ABI only;
// no TensorRT types.
#pragma once

#include "plugin_rules.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

namespace wno {
namespace trt {

class WeightCache {
 public:
  WeightCache() = default;
  ~WeightCache();
  WeightCache(const WeightCache&) = delete;
  WeightCache& operator=(const WeightCache&) = delete;

  // Makes the transformed weights (and a float32 bias for a half bias) for `key`, unless they
  // are already there. Stream-ordered: the work is queued on `stream` before the caller's
  // convolution, with no host synchronisation. The buffer grows by cudaMalloc, so the first
  // call must not happen inside CUDA graph capture (refused with WNO_ERROR_UNSUPPORTED; run
  // one enqueueV3 before capturing, as TensorRT itself requires). On failure `error` says why
  // and the cache is empty.
  wno_status prepare(const WeightKey& key, const wno_conv_desc& desc, cudaStream_t stream,
                     std::string& error);

  const void* transformed() const noexcept;
  // The float32 bias for the kernel: the converted copy for a half bias, else `input` itself.
  const float* bias(const void* input) const noexcept;
  // How many times the weights were transformed (for logs and tests).
  int64_t transform_count() const noexcept { return transforms_; }

 private:
  void release() noexcept;

  WeightKey key_{};
  bool valid_{false};
  WeightBufferLayout layout_{};
  char* buffer_{nullptr};
  size_t capacity_{0};
  int64_t transforms_{0};
};

}  // namespace trt
}  // namespace wno
