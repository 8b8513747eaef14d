// Corrupt files must be refused or give the right answer: never a crash, never an out-of-bounds
// read (built under AddressSanitizer + UBSan by the tests), never a silently wrong output.
//   wno_engine_fuzz model.onnx [truncations] [flips] [seed]
// Opens the file's bytes cut at many offsets and with single random bit flips; an open that
// succeeds must reproduce the intact file's output (bit for bit after a truncation, which can
// only drop trailing fields; within 1e-4 of the output scale after a flip, which may change
// the Winograd tile of a layer). Prints counts; exit status 1 on any wrong output.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "wno/engine.h"

namespace {

std::vector<float> g_x;

bool run(const std::vector<std::uint8_t>& bytes, size_t size, std::vector<float>* y,
         wno_status* status, char* err, size_t err_size) {
  wno_engine_options o;
  wno_engine_default_options(&o);
  o.num_threads = 1;
  wno_engine* e = nullptr;
  *status = wno_engine_open_memory(bytes.data(), size, &o, &e, err, err_size);
  if (*status != WNO_SUCCESS) {
    if (e || err[0] == '\0') std::printf("BAD: failure without a message or with an engine\n");
    return false;
  }
  int in[4], out[4];
  wno_engine_shape(e, 0, in);
  wno_engine_shape(e, 1, out);
  const size_t nx = 1ULL * in[0] * in[1] * in[2] * in[3];
  if (g_x.size() != nx) {
    g_x.resize(nx);
    for (size_t i = 0; i < nx; ++i) g_x[i] = std::sin(0.37f * static_cast<float>(i));
  }
  y->assign(1ULL * out[0] * out[1] * out[2] * out[3], 0.f);
  wno_engine_run(e, g_x.data(), y->data());
  wno_engine_close(e);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.onnx [truncations] [flips] [seed]\n", argv[0]);
    return 2;
  }
  const int truncations = argc > 2 ? std::atoi(argv[2]) : 200;
  const int flips = argc > 3 ? std::atoi(argv[3]) : 200;
  std::uint64_t rng = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1;
  auto next = [&rng] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  std::FILE* f = std::fopen(argv[1], "rb");
  if (!f) return 2;
  std::vector<std::uint8_t> bytes;
  std::uint8_t buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
    bytes.insert(bytes.end(), buf, buf + n);
  std::fclose(f);

  char err[512];
  wno_status st;
  std::vector<float> ref, y;
  if (!run(bytes, bytes.size(), &ref, &st, err, sizeof err)) {
    std::printf("the intact file does not open: %s\n", err);
    return 1;
  }
  double scale = 0;
  for (const float v : ref) scale = std::fmax(scale, std::fabs(v));
  int wrong = 0, refused = 0, same = 0;
  // Truncations: every offset of a small file, else spread offsets plus random ones.
  for (int t = 0; t < truncations; ++t) {
    size_t cut = bytes.size() <= static_cast<size_t>(truncations)
                     ? static_cast<size_t>(t)
                     : (t % 2 ? next() % bytes.size() : bytes.size() * t / truncations);
    if (cut >= bytes.size()) continue;
    // Copy into an exactly-sized buffer so ASan sees reads past the cut.
    std::vector<std::uint8_t> part(bytes.begin(), bytes.begin() + cut);
    if (!run(part, part.size(), &y, &st, err, sizeof err)) {
      ++refused;
    } else if (y != ref) {
      ++wrong;
      std::printf("WRONG output after truncation at %zu\n", cut);
    } else {
      ++same;
    }
  }
  std::printf("truncations: %d refused, %d same output, %d wrong\n", refused, same, wrong);
  int f_refused = 0, f_same = 0, f_close = 0, f_wrong = 0;
  for (int t = 0; t < flips; ++t) {
    std::vector<std::uint8_t> bad = bytes;
    const size_t at = next() % bad.size();
    bad[at] ^= static_cast<std::uint8_t>(1u << (next() % 8));
    if (!run(bad, bad.size(), &y, &st, err, sizeof err)) {
      ++f_refused;
      continue;
    }
    double diff = 0;
    bool finite = y.size() == ref.size();
    for (size_t i = 0; finite && i < y.size(); ++i) {
      finite = std::isfinite(y[i]);
      diff = std::fmax(diff, std::fabs(static_cast<double>(y[i]) - ref[i]));
    }
    if (!finite || diff > 1e-4 * scale) {
      ++f_wrong;
      std::printf("WRONG output after flipping a bit of byte %zu (max diff %g)\n", at, diff);
    } else if (diff == 0) {
      ++f_same;
    } else {
      ++f_close;
    }
  }
  std::printf("bit flips: %d refused, %d same output, %d within 1e-4, %d wrong\n", f_refused,
              f_same, f_close, f_wrong);
  return wrong + f_wrong == 0 ? 0 : 1;
}
