#include "weight_cache.h"

#include "weight_cast.h"

namespace wno {
namespace trt {
namespace {

std::string cudaMessage(const char* what, cudaError_t err) {
  return std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
}

}  // namespace

WeightCache::~WeightCache() { release(); }

void WeightCache::release() noexcept {
  if (mBuffer != nullptr) {
    // Errors are ignored: at process exit the CUDA context may already be gone.
    static_cast<void>(cudaFree(mBuffer));
  }
  mBuffer = nullptr;
  mCapacity = 0;
  mValid = false;
}

wno_status WeightCache::prepare(const WeightKey& key, const wno_conv_desc& desc,
                                cudaStream_t stream, std::string& error) {
  if (mValid && key == mKey) {
    return WNO_SUCCESS;
  }
  mValid = false;
  if (key.weight == nullptr || key.bias == nullptr) {
    error = "weight or bias input is a null pointer";
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  cudaError_t err = cudaStreamIsCapturing(stream, &capture);
  if (err != cudaSuccess) {
    error = cudaMessage("cudaStreamIsCapturing", err);
    return WNO_ERROR_CUDA;
  }
  if (capture != cudaStreamCaptureStatusNone) {
    error =
        "the weights are transformed on the first enqueue, which must not be inside CUDA graph "
        "capture: "
        "run enqueueV3 once before capturing";
    return WNO_ERROR_UNSUPPORTED;
  }
  const size_t transformedBytes = wno_cuda_weight_size(&desc, key.dtype);
  WeightBufferLayout layout;
  if (!planWeightBuffer(transformedBytes, key, layout)) {
    error = "wno_cuda_weight_size gave no size for this convolution";
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  if (layout.totalBytes > mCapacity) {
    release();
    void* buffer = nullptr;
    err = cudaMalloc(&buffer, layout.totalBytes);
    if (err != cudaSuccess) {
      error = cudaMessage("cudaMalloc of the transformed weights", err);
      return err == cudaErrorMemoryAllocation ? WNO_ERROR_OUT_OF_MEMORY : WNO_ERROR_CUDA;
    }
    mBuffer = static_cast<char*>(buffer);
    mCapacity = layout.totalBytes;
  }
  const float* weight = static_cast<const float*>(key.weight);
  if (key.weightHalf) {
    float* weight32 = reinterpret_cast<float*>(mBuffer + layout.weightOffset);
    err = halfToFloat(key.weight, weight32, layout.weightBytes / sizeof(float), stream);
    if (err != cudaSuccess) {
      error = cudaMessage("half-to-float conversion of the weight", err);
      return WNO_ERROR_CUDA;
    }
    weight = weight32;
  }
  if (key.biasHalf) {
    err = halfToFloat(key.bias, reinterpret_cast<float*>(mBuffer + layout.biasOffset),
                      layout.biasBytes / sizeof(float), stream);
    if (err != cudaSuccess) {
      error = cudaMessage("half-to-float conversion of the bias", err);
      return WNO_ERROR_CUDA;
    }
  }
  const wno_status status = wno_cuda_transform_weights(&desc, key.dtype, weight,
                                                       mBuffer + layout.transformedOffset, stream);
  if (status != WNO_SUCCESS) {
    error = std::string("wno_cuda_transform_weights: ") + wno_status_string(status);
    if (status == WNO_ERROR_CUDA) {
      error += std::string(": ") + wno_cuda_last_error();
    }
    return status;
  }
  mKey = key;
  mLayout = layout;
  mValid = true;
  ++mTransforms;
  return WNO_SUCCESS;
}

const void* WeightCache::transformed() const noexcept {
  return mValid ? mBuffer + mLayout.transformedOffset : nullptr;
}

const float* WeightCache::bias(const void* input) const noexcept {
  if (mValid && mKey.biasHalf) {
    return reinterpret_cast<const float*>(mBuffer + mLayout.biasOffset);
  }
  return static_cast<const float*>(input);
}

}  // namespace trt
}  // namespace wno
