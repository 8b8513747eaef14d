// Fusion patterns: recognise the WNO / FNO pipeline in a Graph, node by node, with every
// attribute, constant and shape checked, and read each fused stage's parameters (channels,
// modes, tile, padding, constants) from the nodes it matched. The metadata plays no part.
// The fused stages form one block: [lift] layers... [projection]; nodes outside it run on the
// reference kernels (reference.h).
#pragma once

#include <string>
#include <vector>

#include "compute.h"
#include "graph.h"

namespace wno::engine {

enum class RealSpace { kWinograd, kDirect3x3, kPointwise };

struct LayerMatch {
  RealSpace kind = RealSpace::kWinograd;
  int tile = 4;                    // WinogradConv's tile (4 for a plain 3x3 Conv)
  int weight = -1, bias = -1;      // (C, C, 3, 3) or (C, C, 1, 1); (C)
  int mixing = -1;                 // (K1 * m2, 1, C, 2C)
  std::vector<float> mixing_data;  // the same from a DFT-form layer's corners (mixing is -1)
  bool gelu = false;               // GELU on the layer's sum
  int mlp1_w = -1, mlp1_b = -1, mlp2_w = -1, mlp2_b = -1;  // neuraloperator's channel MLP
  int skip = -1;          // its skip of the layer input (C, C, 1, 1)
  bool gelu_out = false;  // neuraloperator: the GELU after the channel MLP
};

// One fused stage of the plan: its name and the graph nodes it covers.
struct StageMatch {
  std::string name;
  std::vector<int> nodes;
};

struct WnoMatch {
  int dims = 2;                                // spatial axes: 2, or 1 (a line: h = hp = 1)
  int n = 0, cin = 0, cout = 0, h = 0, w = 0;  // input (n, cin, h, w), output (n, cout, h, w)
  int c = 0, proj = 0;                         // width, projection width
  int proj_act = kGelu;                        // the projection's activation (kGelu or kSilu)
  int hp = 0, wp = 0, top = 0, left = 0;       // padded grid and the image's offset in it
  int lw = 0;                                  // lifting MLP width (0: one linear lift)
  int m2 = 0, k1 = 0;                          // kept DFT columns, kept rows (2 m1)
  bool neuralop = false;                       // neuraloperator's block (GELU, MLP, GELU)
  int cmw = 0;                                 // channel MLP width (0: none)
  bool skip = false;                           // channel MLP skip
  // initializer value ids (-1: absent)
  int in_mean = -1, in_std = -1, out_mean = -1, out_std = -1;
  int lift_w = -1, lift_c = -1, lift2_w = -1, lift2_b = -1;
  int fwd_w = -1, fwd_h = -1, inv_h = -1, inv_w = -1;  // a line: no fwd_h, inv_h (k1 = 1)
  // Layers written with ONNX DFT nodes (export --spectral dft): the ids above are -1 and these
  // are the bases the MatMul form would hold for the same grid and modes (fwd_w, fwd_h, inv_h,
  // inv_w; the irfft's bin weights are in the mixing there), so the stage runs the same GEMMs.
  bool dft_nodes = false;
  std::vector<float> bases[4];
  int p1_w = -1, p1_b = -1, p2_w = -1, p2_b = -1;
  std::vector<LayerMatch> layers;
  std::vector<int> doubled;  // Conv weights a folded GELU * 0.5 halved: the stage doubles them
  std::vector<StageMatch> stages;  // in run order, each node once
  // The block: from block_in (the graph input with the lift, else the first layer's input) to
  // block_out (the projection's output, else the last layer's output).
  bool lift = false, project = false;
  int block_in = -1, block_out = -1;
  bool whole = false;   // the block covers every node of the graph
  std::string partial;  // when not whole: the first node no pattern accepted, and why
};

// True if the patterns found a fused block (at least one layer) that nothing outside it reads
// into; else false with why_not naming the first node (or value) no pattern accepted and why.
bool match_wno(const Graph& g, WnoMatch* out, std::string* why_not);

}  // namespace wno::engine
