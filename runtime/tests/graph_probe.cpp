// The graph builder and the reference kernels (engine/graph.h, engine/reference.h) over
// stdin/stdout, for tests/test_graph_reference.py:
//   wno_graph_probe [options] model.onnx [batch]
// reads the input's float32 bytes on stdin and writes the output's float32 bytes on stdout.
// Options:
//   --shapes                 print "name<TAB>[d0,d1,...]" for every value instead of running
//   --digest                 print structure_digest of the file (8 hex digits) and nothing else
//   --max-tensor-bytes N     GraphLimits::max_tensor_bytes
//   --max-total-bytes N      GraphLimits::max_total_bytes (and the reference plan's limit)
// Exit 0; 2 with one line on stderr when the file is unreadable or refused; 1 on usage or I/O.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "graph.h"
#include "onnx_reader.h"
#include "reference.h"

namespace {

int refuse(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  return 2;
}

bool read_all(std::FILE* f, std::vector<std::uint8_t>* out) {
  std::uint8_t chunk[65536];
  std::size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) out->insert(out->end(), chunk, chunk + n);
  return !std::ferror(f);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace wno::engine;
  bool shapes = false, digest = false;
  GraphLimits limits;
  std::vector<const char*> args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--shapes") {
      shapes = true;
    } else if (a == "--digest") {
      digest = true;
    } else if ((a == "--max-tensor-bytes" || a == "--max-total-bytes") && i + 1 < argc) {
      (a == "--max-tensor-bytes" ? limits.max_tensor_bytes : limits.max_total_bytes) =
          std::strtoll(argv[++i], nullptr, 10);
    } else {
      args.push_back(argv[i]);
    }
  }
  if (args.empty() || args.size() > 2) {
    std::fprintf(stderr, "usage: wno_graph_probe [--shapes|--digest] model.onnx [batch]\n");
    return 1;
  }
  if (args.size() == 2) limits.batch = std::atoi(args[1]);
  std::FILE* f = std::fopen(args[0], "rb");
  if (!f) return refuse(std::string("cannot open ") + args[0]);
  std::vector<std::uint8_t> file;
  const bool read = read_all(f, &file);
  std::fclose(f);
  if (!read) return refuse("cannot read the file");
  ModelFile m;
  std::string error;
  if (!parse_model(file.data(), file.size(), &m, &error)) return refuse(error);
  if (digest) {
    std::printf("%s\n", structure_digest(m).c_str());
    return 0;
  }
  Graph g;
  if (!build_graph(m, limits, &g, &error)) return refuse(error);
  if (shapes) {
    for (const Value& v : g.values)
      std::printf("%s\t%s\n", std::string(v.name).c_str(), shape_string(v.shape).c_str());
    return 0;
  }
  ReferenceRunner runner;
  if (!runner.build(g, limits.max_total_bytes, &error)) return refuse(error);
  std::vector<float> x(static_cast<std::size_t>(g.value(g.input).elements()));
  std::vector<float> y(static_cast<std::size_t>(g.value(g.output).elements()));
  if (std::fread(x.data(), sizeof(float), x.size(), stdin) != x.size()) {
    std::fprintf(stderr, "stdin holds fewer than %zu floats\n", x.size());
    return 1;
  }
  runner.run(x.data(), y.data());
  if (std::fwrite(y.data(), sizeof(float), y.size(), stdout) != y.size()) return 1;
  return std::fflush(stdout) == 0 ? 0 : 1;
}
