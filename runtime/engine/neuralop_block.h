// The stages neuraloperator's FNO block adds to a WNO (wno_edge/contract.py WNOConfig.block
// "neuralop"; wno_edge/importers/neuralop.py): the lifting MLP and, per layer, the channel MLP
// with its skip. fused_run.cpp calls them; they run on the engine's pool and per-worker scratch.
#pragma once

#include "pool.h"

namespace wno::engine {

struct Kernels;

// Where a stage runs: the engine's loops, its pool, per-worker scratch.
struct StageRun {
  const Kernels& K;
  Pool& P;
  float* scratch;
  long long scratch_floats;  // per worker
};

// neuraloperator's lifting MLP: an (n, cin, h, w) input into the padded (n, c, hp, wp) field.
struct LiftMlp {
  int n, cin, h, w, lw, c;                 // batch, channels in, image, hidden width, channels out
  int hp, wp, top, left;                   // the padded grid, the image's place in it
  const float *lift_w, *lift_c, *w2, *b2;  // (lw, cin), (lw, h, w) bias and grid, (c, lw), (c)
  // lift_c as row and column terms, (lw, h) and (lw, w), instead (null: lift_c)
  const float *lift_rows, *lift_cols;
};

// neuraloperator's channel MLP and skip: w2 gelu(w1 u + b1) + b2 + S v.
struct ChannelMlp {
  int c, hidden;
  const float *w1, *b1, *w2, *b2;  // (hidden, c), (hidden), (c, hidden), (c)
  const float *skip, *skip_diag;   // S: (c, c), or diag(skip_diag) (no GEMM), or neither
};

// Per-worker scratch floats the stages below need.
long long lift_mlp_scratch(int cin, int h, int w, int lifting_width, int c);
long long channel_mlp_scratch(int c, int hidden);

// out (n, c, hp, wp) = w2 gelu(lift_w xn + lift_c) + b2 inside rows [top, top + h) and columns
// [left, left + w), zero elsewhere; xn (n, cin, h, w).
void lift_mlp(const StageRun& r, const LiftMlp& m, const float* xn, float* out);

// u (n, c, hw) = act(the channel MLP and skip of u, v) in place, act GELU when `gelu`; v (n, c,
// hw) is the layer's input.
void channel_mlp(const StageRun& r, const ChannelMlp& m, int n, long long hw, float* u,
                 const float* v, bool gelu);

// True (and the diagonal in diag) if the (c, c) matrix m is diagonal.
bool diagonal(const float* m, int c, float* diag);

// A whole neuraloperator FNO layer after the spectral branch (s holds it), one pass per pixel
// chunk: s = gelu?(w v + bias + s), then the channel MLP with its skip, or a second GELU
// without an MLP (m.w1 null). GELUs only when !last. w (c, c).
void fno_layer(const StageRun& r, const ChannelMlp& m, const float* w, const float* bias, int n,
               long long hw, float* s, const float* v, bool last);

// u (rows, hw) = gelu(u) in place (neuraloperator's block without a channel MLP: a second GELU).
void gelu_inplace(const Kernels& K, Pool& P, long long rows, long long hw, float* u);

}  // namespace wno::engine
