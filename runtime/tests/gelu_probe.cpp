// gelu.h's two erf forms against std::erf in double, in the build's vectors (compile with
// -DWNO_CPU_NS=<ns> and an ISA's flags): prints the max |erf error| of erf_poly3 and
// erf_rational over [-10, 10] (step 1e-5), and the largest |gelu(x) - x| for x >= 5.6 and
// |gelu(x)| for x <= -5.6 (the rational form's exact tails).
#include <cmath>
#include <cstdio>

#include "gelu.h"

using namespace WNO_CPU_NS;

int main() {
  double poly3 = 0, rational = 0, tail = 0;
  for (double x0 = -10; x0 < 10; x0 += VL * 1e-5) {
    float a[VL];
    for (int l = 0; l < VL; ++l) a[l] = static_cast<float>(x0 + l * 1e-5);
    const vf v = load(a);
    const vf e3 = erf_poly3(v), er = erf_rational(v), g = gelu_erf_rational(v);
    for (int l = 0; l < VL; ++l) {
      const double ref = std::erf(static_cast<double>(a[l]));
      poly3 = std::fmax(poly3, std::fabs(e3[l] - ref));
      rational = std::fmax(rational, std::fabs(er[l] - ref));
      if (a[l] >= 5.6f) tail = std::fmax(tail, std::fabs(g[l] - a[l]));
      if (a[l] <= -5.6f) tail = std::fmax(tail, std::fabs(g[l]));
    }
  }
  std::printf("%.3e %.3e %.3e\n", poly3, rational, tail);
  return 0;
}
