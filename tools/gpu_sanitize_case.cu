// One small convolution through every CUDA entry point (v1, v2; float32, float16; all
// tiles; v1's 1-D path on a line, v2's refusal of one), v2 with both pipelines
// (WNO_CUDA_V2_PIPELINE=async: cp.async, F(2,3) and F(4,3); float16 x then one half past a 4-byte
// boundary), for compute-sanitizer memcheck and racecheck (tools/gpu_check.py builds and runs it).
// Exits non-zero on any error status; the sanitizer reports its own findings.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "wno/winograd.h"

namespace {

int fail(const char* what, int status) {
  std::fprintf(stderr, "%s failed: %d (%s)\n", what, status, wno_cuda_last_error());
  return 1;
}

}  // namespace

int main() {
  int major = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  const int n = 1, c = 20, k = 20, h = 23, w = 29;
  std::vector<float> x(n * c * h * w), wt(k * c * 9), bias(k);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 13) / 13.f - 0.5f;
  for (size_t i = 0; i < wt.size(); ++i)
    wt[i] = static_cast<float>((i * 104729) % 11) / 11.f - 0.5f;
  for (int i = 0; i < k; ++i) bias[i] = 0.1f * i;
  std::vector<__half> xh(x.size());
  for (size_t i = 0; i < x.size(); ++i) xh[i] = __float2half(x[i]);
  void *dx, *dxh, *dw, *db, *dy, *du;
  cudaMalloc(&dx, x.size() * 4);
  cudaMalloc(&dxh, x.size() * 2 + 2);  // + 1 half: the shifted copy
  cudaMalloc(&dw, wt.size() * 4);
  cudaMalloc(&db, bias.size() * 4);
  cudaMalloc(&dy, static_cast<size_t>(n) * k * h * w * 4);
  cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dxh, xh.data(), xh.size() * 2, cudaMemcpyHostToDevice);
  __half* dxh_odd = static_cast<__half*>(dxh) + 1;  // exactly x.size() halves from here on
  cudaMemcpy(dxh_odd, xh.data(), xh.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dw, wt.data(), wt.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(db, bias.data(), bias.size() * 4, cudaMemcpyHostToDevice);
  int runs = 0;
  for (int tile : {2, 4, 6}) {
    const wno_conv_desc d = {n, c, k, h, w, 1, tile, 2};
    for (wno_dtype dt : {WNO_FLOAT32, WNO_FLOAT16}) {
      const void* in = dt == WNO_FLOAT32 ? dx : dxh;
      size_t bytes = wno_cuda_weight_size(&d, dt);
      cudaMalloc(&du, bytes);
      if (int s = wno_cuda_transform_weights(&d, dt, static_cast<const float*>(dw), du, nullptr))
        return fail("v1 weights", s);
      if (int s = wno_cuda_conv2d(&d, dt, in, du, static_cast<const float*>(db), dy, nullptr, 0,
                                  nullptr))
        return fail("v1 conv", s);
      cudaFree(du);
      ++runs;
      if (dt == WNO_FLOAT32 && major < 8) continue;  // v2 float32 is TF32: sm_80+
      bytes = wno_cuda_v2_weight_size(&d, dt);
      cudaMalloc(&du, bytes);
      if (int s = wno_cuda_v2_transform_weights(&d, dt, static_cast<const float*>(dw), du, nullptr))
        return fail("v2 weights", s);
      for (const char* pipeline : {"registers", "async"}) {
        setenv("WNO_CUDA_V2_PIPELINE", pipeline, 1);
        const bool shifted = dt == WNO_FLOAT16 && pipeline[0] == 'a';
        if (int s = wno_cuda_v2_conv2d(&d, dt, WNO_MATH_DEFAULT, shifted ? dxh_odd : in, du,
                                       static_cast<const float*>(db), dy, nullptr, 0, nullptr))
          return fail("v2 conv", s);
        ++runs;
      }
      unsetenv("WNO_CUDA_V2_PIPELINE");
      cudaFree(du);
    }
  }
  // Lines (dims 1): 2 x 20 x 331 fits in x; odd length, padding 0 and 1, several tile blocks.
  for (int tile : {2, 4, 6}) {
    for (int padding : {0, 1}) {
      const wno_conv_desc d = {2, c, k, 1, 331, padding, tile, 1};
      for (wno_dtype dt : {WNO_FLOAT32, WNO_FLOAT16}) {
        cudaMalloc(&du, wno_cuda_weight_size(&d, dt));
        if (int s = wno_cuda_transform_weights(&d, dt, static_cast<const float*>(dw), du, nullptr))
          return fail("v1 line weights", s);
        if (int s = wno_cuda_conv2d(&d, dt, dt == WNO_FLOAT32 ? dx : dxh, du,
                                    static_cast<const float*>(db), dy, nullptr, 0, nullptr))
          return fail("v1 line conv", s);
        if (wno_cuda_v2_conv2d(&d, dt, WNO_MATH_DEFAULT, dx, du, nullptr, dy, nullptr, 0,
                               nullptr) != WNO_ERROR_UNSUPPORTED)
          return fail("v2 refusing a line", 0);
        cudaFree(du);
        ++runs;
      }
    }
  }
  const cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess) {
    std::fprintf(stderr, "CUDA error: %s\n", cudaGetErrorString(err));
    return 1;
  }
  std::printf("gpu_sanitize_case: %d convolutions ran\n", runs);
  return 0;
}
