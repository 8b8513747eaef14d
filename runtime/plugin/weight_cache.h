// Plugin-owned transformed weights: one device copy per plugin object, allocated when the
// shapes are known (onShapeChange), made on the first enqueue and remade only when the
// WeightKey changes. CUDA runtime and the kernel ABI only;
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

  // Allocates (cudaMalloc) the device buffer for `key`'s sizes, if the one it has is smaller:
  // called where the sizes are known (the plugin's onShapeChange), never in enqueue. The
  // pointers in `key` are not used. On failure `error` says why and the cache is empty.
  wno_status reserve(const WeightKey& key, const wno_conv_desc& desc, std::string& error);

  // Makes the transformed weights (and a float32 bias for a half bias) for `key`, unless they
  // are already there, in the buffer reserve() allocated (WNO_ERROR_INTERNAL if it did not).
  // Stream-ordered: the work is queued on `stream` before the caller's convolution, with no
  // host synchronisation and no allocation. The transform must not be recorded into a CUDA
  // graph (it would rerun on every replay), so a first call inside graph capture is refused
  // with WNO_ERROR_UNSUPPORTED: run one enqueueV3 before capturing, as TensorRT itself
  // requires. On failure `error` says why and the cache is empty.
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
