#include "weight_cache.h"

#include "weight_cast.h"

namespace wno {
namespace trt {
namespace {

std::string cuda_message(const char* what, cudaError_t err) {
  return std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
}

}  // namespace

WeightCache::~WeightCache() { release(); }

void WeightCache::release() noexcept {
  if (buffer_ != nullptr) {
    // Errors are ignored: at process exit the CUDA context may already be gone.
    static_cast<void>(cudaFree(buffer_));
  }
  buffer_ = nullptr;
  capacity_ = 0;
  valid_ = false;
}

namespace {

bool plan(const WeightKey& key, const wno_conv_desc& desc, WeightBufferLayout& layout,
          std::string& error) {
  const size_t transformed_bytes = key.kernel == 2 ? wno_cuda_v2_weight_size(&desc, key.dtype)
                                                   : wno_cuda_weight_size(&desc, key.dtype);
  if (!plan_weight_buffer(transformed_bytes, key, layout)) {
    error = "the kernel's weight_size gave no size for this convolution";
    return false;
  }
  return true;
}

}  // namespace

wno_status WeightCache::reserve(const WeightKey& key, const wno_conv_desc& desc,
                                std::string& error) {
  WeightBufferLayout layout;
  if (!plan(key, desc, layout, error)) {
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  if (layout.total_bytes <= capacity_) {
    return WNO_SUCCESS;
  }
  release();
  void* buffer = nullptr;
  const cudaError_t err = cudaMalloc(&buffer, layout.total_bytes);
  if (err != cudaSuccess) {
    error = cuda_message("cudaMalloc of the transformed weights", err);
    return err == cudaErrorMemoryAllocation ? WNO_ERROR_OUT_OF_MEMORY : WNO_ERROR_CUDA;
  }
  buffer_ = static_cast<char*>(buffer);
  capacity_ = layout.total_bytes;
  return WNO_SUCCESS;
}

wno_status WeightCache::prepare(const WeightKey& key, const wno_conv_desc& desc,
                                cudaStream_t stream, std::string& error) {
  if (valid_ && key == key_) {
    return WNO_SUCCESS;
  }
  valid_ = false;
  if (key.weight == nullptr || key.bias == nullptr) {
    error = "weight or bias input is a null pointer";
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  cudaError_t err = cudaStreamIsCapturing(stream, &capture);
  if (err != cudaSuccess) {
    error = cuda_message("cudaStreamIsCapturing", err);
    return WNO_ERROR_CUDA;
  }
  if (capture != cudaStreamCaptureStatusNone) {
    error =
        "the weights are transformed on the first enqueue, which must not be inside CUDA graph "
        "capture: "
        "run enqueueV3 once before capturing";
    return WNO_ERROR_UNSUPPORTED;
  }
  WeightBufferLayout layout;
  if (!plan(key, desc, layout, error)) {
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  if (layout.total_bytes > capacity_) {  // enqueue never allocates
    error = "the transformed-weight buffer was not allocated for these shapes (onShapeChange)";
    return WNO_ERROR_INTERNAL;
  }
  const float* weight = static_cast<const float*>(key.weight);
  if (key.weight_half) {
    float* weight32 = reinterpret_cast<float*>(buffer_ + layout.weight_offset);
    err = half_to_float(key.weight, weight32, layout.weight_bytes / sizeof(float), stream);
    if (err != cudaSuccess) {
      error = cuda_message("half-to-float conversion of the weight", err);
      return WNO_ERROR_CUDA;
    }
    weight = weight32;
  }
  if (key.bias_half) {
    err = half_to_float(key.bias, reinterpret_cast<float*>(buffer_ + layout.bias_offset),
                        layout.bias_bytes / sizeof(float), stream);
    if (err != cudaSuccess) {
      error = cuda_message("half-to-float conversion of the bias", err);
      return WNO_ERROR_CUDA;
    }
  }
  void* transformed = buffer_ + layout.transformed_offset;
  const wno_status status =
      key.kernel == 2 ? wno_cuda_v2_transform_weights(&desc, key.dtype, weight, transformed, stream)
                      : wno_cuda_transform_weights(&desc, key.dtype, weight, transformed, stream);
  if (status != WNO_SUCCESS) {
    error = std::string(key.kernel == 2 ? "wno_cuda_v2_transform_weights: "
                                        : "wno_cuda_transform_weights: ") +
            wno_status_string(status);
    if (status == WNO_ERROR_CUDA) {
      error += std::string(": ") + wno_cuda_last_error();
    }
    return status;
  }
  key_ = key;
  layout_ = layout;
  valid_ = true;
  ++transforms_;
  return WNO_SUCCESS;
}

const void* WeightCache::transformed() const noexcept {
  return valid_ ? buffer_ + layout_.transformed_offset : nullptr;
}

const float* WeightCache::bias(const void* input) const noexcept {
  if (valid_ && key_.bias_half) {
    return reinterpret_cast<const float*>(buffer_ + layout_.bias_offset);
  }
  return static_cast<const float*>(input);
}

}  // namespace trt
}  // namespace wno
