// Weight transform and packing for the CPU kernel: done once per layer, ISA-neutral.
#include <cstring>

#include "cpu_kernel.h"
#include "wno/winograd_tile.h"

namespace wno {
namespace {

template <int M>
void transform(const ConvShape& s, const float* weight, float* u) {
  constexpr int A = M + 2;
  const int taps = s.dims == 1 ? 3 : 9, positions = cpu_positions(s);
  const int kp = (s.k + kPanelRows - 1) / kPanelRows;
  std::memset(u, 0, sizeof(float) * cpu_weight_floats(s));
  for (int k = 0; k < s.k; ++k) {
    for (int c = 0; c < s.c; ++c) {
      double g[9], t[A * A];  // double: the float result is then rounded once
      for (int i = 0; i < taps; ++i) g[i] = weight[(1LL * k * s.c + c) * taps + i];
      if (s.dims == 1)
        Winograd<M>::weight_1d(g, 1, t, 1);
      else
        weight_tile<M>(g, t);
      for (int p = 0; p < positions; ++p) {
        const long long panel = 1LL * p * kp + k / kPanelRows;
        u[(panel * s.c + c) * kPanelRows + k % kPanelRows] = static_cast<float>(t[p]);
      }
    }
  }
}

}  // namespace

void cpu_transform_weights(const ConvShape& s, const float* weight, float* u) {
  switch (s.m) {
    case 2:
      return transform<2>(s, weight, u);
    case 4:
      return transform<4>(s, weight, u);
    case 6:
      return transform<6>(s, weight, u);
  }
}

}  // namespace wno
