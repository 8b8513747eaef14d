// The engine over stdin/stdout, everything linked in (for a cross build run under an emulator):
//   wno_engine_stdio model.onnx [threads] < input.f32 > output.f32
// Reads the model's input (N*C*H*W float32, native byte order), writes its output; prints the
// engine's ISA on stderr, or the error message and exit status 1.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "wno/engine.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.onnx [threads] < input > output\n", argv[0]);
    return 2;
  }
  wno_engine_options o;
  wno_engine_default_options(&o);
  o.num_threads = argc > 2 ? std::atoi(argv[2]) : 1;
  wno_engine* e = nullptr;
  char err[512];
  if (wno_engine_open(argv[1], &o, &e, err, sizeof err) != WNO_SUCCESS) {
    std::fprintf(stderr, "%s\n", err);
    return 1;
  }
  int in[4], out[4];
  wno_engine_shape(e, 0, in);
  wno_engine_shape(e, 1, out);
  std::vector<float> x(1ULL * in[0] * in[1] * in[2] * in[3]);
  std::vector<float> y(1ULL * out[0] * out[1] * out[2] * out[3]);
  if (std::fread(x.data(), sizeof(float), x.size(), stdin) != x.size()) {
    std::fprintf(stderr, "expected %zu input floats on stdin\n", x.size());
    return 1;
  }
  if (wno_engine_run(e, x.data(), y.data()) != WNO_SUCCESS) return 1;
  std::fwrite(y.data(), sizeof(float), y.size(), stdout);
  std::fprintf(stderr, "%s\n", wno_engine_isa());
  wno_engine_close(e);
  return 0;
}
