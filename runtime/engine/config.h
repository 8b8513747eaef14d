// The WNO config an export stores as JSON in metadata wno_edge.config (wno_edge/contract.py
// WNOConfig.to_dict): one flat object of integers, booleans, [int, int] pairs and null, read
// by a minimal JSON reader. Unknown keys are refused (a newer format), as WNOConfig does.
#pragma once

#include <string>
#include <string_view>

namespace wno::engine {

struct WnoConfig {
  int in_channels = 0, out_channels = 0;
  int width = 32, modes1 = 12, modes2 = 12, n_layers = 4, winograd_tile = 4;
  bool real_space_kernel = true;
  int domain_padding = 2, projection_width = 128;
  bool grid = true;
  int resolution_h = 0, resolution_w = 0;  // 0: none recorded
  // neuraloperator's FNO block (wno_edge/contract.py; neuralop_block.cpp runs its extra stages)
  bool block_neuralop = false;  // "block": "neuralop"
  int lifting_width = 0, channel_mlp_width = 0;
  bool channel_mlp_skip = false;
  double padding_fraction_h = 0, padding_fraction_w = 0;  // symmetric round(f * n) per side
};

// The contract's bounds (wno_edge/contract.py).
constexpr int kMaxChannels = 4096, kMaxWidth = 4096, kMaxLayers = 256, kMaxModes = 4096,
              kMaxResolution = 1 << 16;

// False with a message (*unsupported true for an unknown key: a newer format) on bad input.
bool parse_config(std::string_view json, WnoConfig* cfg, std::string* error, bool* unsupported);

}  // namespace wno::engine
