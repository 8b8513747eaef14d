// The stages neuraloperator's FNO block adds to a WNO (wno_edge/contract.py WNOConfig.block
// "neuralop"; wno_edge/importers/neuralop.py): the lifting MLP and, per layer, the channel MLP
// with its skip. engine.cpp calls them; they run on the engine's pool and per-worker scratch.
#pragma once

#include "pool.h"

namespace wno::engine {

struct Kernels;

// Per-worker scratch floats the stages below need.
long long lift_mlp_scratch(int cin, int h, int w, int lifting_width, int c);
long long channel_mlp_scratch(int c, int hidden);

// out (n, c, hp, wp) = lift2(gelu(lift_w xn + lift_c)) + b2 inside rows [top, top + h) and
// columns [left, left + w), zero elsewhere. xn (n, cin, h, w); lift_w (lw, cin); lift_c (lw, h, w)
// (the lift bias and grid term); w2 (c, lw); b2 (c).
void lift_mlp(const Kernels& K, Pool& P, int n, int cin, int h, int w, int lw, int c,
              const float* xn, const float* lift_w, const float* lift_c, const float* w2,
              const float* b2, float* out, int hp, int wp, int top, int left, float* scratch,
              long long scratch_floats);

// u (n, c, hw) = act(w2 gelu(w1 u + b1) + b2 + S v) in place, act GELU when `gelu`; S is `skip`
// (c, c), or diag(skip_diag) (soft-gating and identity skips: no GEMM), or absent (both null).
// v (n, c, hw) is the layer's input. w1 (hidden, c), w2 (c, hidden).
void channel_mlp(const Kernels& K, Pool& P, int n, int c, int hidden, long long hw, float* u,
                 const float* v, const float* w1, const float* b1, const float* w2, const float* b2,
                 const float* skip, const float* skip_diag, bool gelu, float* scratch,
                 long long scratch_floats);

// True (and the diagonal in diag) if the (c, c) matrix m is diagonal.
bool diagonal(const float* m, int c, float* diag);

// A whole neuraloperator FNO layer after the spectral branch (s holds it), one pass per pixel
// chunk: s = gelu?(W v + bias + s), then the channel MLP with its skip as channel_mlp, or a
// second GELU without an MLP (w1 null). GELUs only when !last. W (c, c).
void fno_layer(const Kernels& K, Pool& P, int n, int c, int hidden, long long hw, float* s,
               const float* v, const float* w, const float* bias, const float* w1, const float* b1,
               const float* w2, const float* b2, const float* skip, const float* skip_diag,
               bool last, float* scratch, long long scratch_floats);

// u (rows, hw) = gelu(u) in place (neuraloperator's block without a channel MLP: a second GELU).
void gelu_inplace(const Kernels& K, Pool& P, long long rows, long long hw, float* u);

}  // namespace wno::engine
