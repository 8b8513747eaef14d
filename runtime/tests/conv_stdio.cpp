// The CPU kernel's C ABI over stdin/stdout, for a build that runs under an emulator
// (tests/test_native_cpu.py: the aarch64 cross build under qemu-aarch64).
//
//   stdin:  wno_conv_desc, then x (N,C,H,W), weight (K,C,3,3), bias (K) as float32
//           (dims 1: x (N,C,W), weight (K,C,3))
//   stdout: y (N,K,Ho,Wo) as float32; stderr: the ISA the kernel dispatched to
//   exit:   0 ok, 2 short input, 3 weight transform failed, 4 convolution failed,
//           5 invalid descriptor
#include <cstdio>
#include <vector>

#include "wno/winograd.h"

int main() {
  wno_conv_desc d;
  if (std::fread(&d, sizeof d, 1, stdin) != 1) return 2;
  int ho = 0, wo = 0;
  if (wno_conv_output_size(&d, &ho, &wo)) return 5;
  const size_t nx = 1ul * d.batch * d.in_channels * d.height * d.width;
  const size_t nw = (d.dims == 1 ? 3ul : 9ul) * d.out_channels * d.in_channels;
  const size_t ny = 1ul * d.batch * d.out_channels * ho * wo;
  std::vector<float> x(nx), w(nw), b(d.out_channels), y(ny);
  if (std::fread(x.data(), 4, nx, stdin) != nx || std::fread(w.data(), 4, nw, stdin) != nw ||
      std::fread(b.data(), 4, b.size(), stdin) != b.size())
    return 2;
  std::vector<char> u(wno_cpu_weight_size(&d));
  if (wno_cpu_transform_weights(&d, w.data(), u.data(), u.size())) return 3;
  if (wno_cpu_conv2d(&d, x.data(), u.data(), b.data(), y.data(), nullptr, 0, 2)) return 4;
  std::fprintf(stderr, "%s\n", wno_cpu_isa());
  std::fwrite(y.data(), 4, ny, stdout);
  return 0;
}
