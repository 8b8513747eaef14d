// The WNO config an export stores as JSON in metadata wno_edge.config (wno_edge/contract.py
// WNOConfig.to_dict): one flat object. Read by a strict RFC 8259 JSON reader within contract.h's
// kMaxConfig* limits, then checked as WNOConfig checks it: this reader and the Python one
// (wno_edge/runtime/onnx_metadata.py) accept exactly the same texts (tests/test_config_grammar.py).
// Unknown keys are refused (a newer format), as WNOConfig does.
#pragma once

#include <string>
#include <string_view>

#include "wno/contract.h"

namespace wno::engine {

// A key the file leaves out has WNOConfig's default (contract.h, from wno_edge/contract.py).
struct WnoConfig {
  int in_channels = 0, out_channels = 0;
  int width = contract::kDefaultWidth;
  // The spatial rank is the number of modes: 2 ((N, C, H, W)), 1 ((N, C, X)) or 3 ((N, C, D, H,
  // W), an FNO); a 1-D config's second per-axis fields (modes2, resolution_w, padding_fraction_w)
  // are 0, a 3-D config keeps its first two axes' (the graph is what runs: informative only).
  int rank = 2;
  int modes1 = contract::kDefaultModes[0], modes2 = contract::kDefaultModes[1];
  int n_layers = contract::kDefaultNLayers, winograd_tile = contract::kDefaultWinogradTile;
  bool real_space_kernel = contract::kDefaultRealSpaceKernel;
  int domain_padding = contract::kDefaultDomainPadding;
  int projection_width = contract::kDefaultProjectionWidth;
  bool grid = contract::kDefaultGrid;
  int resolution_h = 0, resolution_w = 0;  // 0: none recorded
  // neuraloperator's FNO block (wno_edge/contract.py; neuralop_block.cpp runs its extra stages)
  bool block_neuralop = std::string_view(contract::kDefaultBlock) == "neuralop";  // "block"
  int lifting_width = contract::kDefaultLiftingWidth;
  int channel_mlp_width = contract::kDefaultChannelMlpWidth;
  bool channel_mlp_skip = contract::kDefaultChannelMlpSkip;
  // symmetric round(f * n) per side
  double padding_fraction_h = contract::kDefaultDomainPaddingFraction[0];
  double padding_fraction_w = contract::kDefaultDomainPaddingFraction[1];
  // PhysicsNeMo's FNO (informative: the graph holds its activations, padding and projection)
  bool activation_gelu = std::string_view(contract::kDefaultActivation) == "gelu";
  int projection_layers = contract::kDefaultProjectionLayers;
};

// False with a one-line message (*unsupported true for an unknown key or block: a newer format)
// on bad input.
bool parse_config(std::string_view json, WnoConfig* cfg, std::string* error, bool* unsupported);

}  // namespace wno::engine
