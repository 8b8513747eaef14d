// The engine's config reader (engine/config.cpp parse_config) over stdin/stdout, for
// tests/test_config_grammar.py: Python's reader and this one must accept the same texts.
//   wno_config_probe < cases
// Input: records "<byte count>\n<bytes>". Output per record, one of
//   OK in out width rank modes1 modes2 n_layers tile real_space_kernel domain_padding
//   projection_width
//      grid resolution_h resolution_w block_neuralop lifting_width channel_mlp_width
//      channel_mlp_skip padding_fraction_h padding_fraction_w
//   ERR <unsupported 0|1> <message byte count>\n<message>
#include <cstdio>
#include <string>

#include "config.h"

int main() {
  unsigned long n = 0;
  while (std::scanf("%lu", &n) == 1) {
    if (std::getchar() != '\n') return 2;
    std::string text(n, '\0');
    if (n > 0 && std::fread(&text[0], 1, n, stdin) != n) return 2;
    wno::engine::WnoConfig c;
    std::string error;
    bool unsupported = false;
    if (wno::engine::parse_config(text, &c, &error, &unsupported)) {
      std::printf("OK %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %.17g %.17g\n",
                  c.in_channels, c.out_channels, c.width, c.rank, c.modes1, c.modes2, c.n_layers,
                  c.winograd_tile, c.real_space_kernel, c.domain_padding, c.projection_width,
                  c.grid, c.resolution_h, c.resolution_w, c.block_neuralop, c.lifting_width,
                  c.channel_mlp_width, c.channel_mlp_skip, c.padding_fraction_h,
                  c.padding_fraction_w);
    } else {
      std::printf("ERR %d %zu\n", unsupported ? 1 : 0, error.size());
      std::fwrite(error.data(), 1, error.size(), stdout);
      std::printf("\n");
    }
  }
  return 0;
}
