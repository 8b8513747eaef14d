// Shape arithmetic shared by every kernel: output size, tile grid, validation.
#pragma once

#include "wno/contract.h"
#include "wno/host_device.h"
#include "wno/winograd.h"

namespace wno {

struct ConvShape {
  int n, c, k, h, w, pad, m;  // batch, in/out channels, input size, padding, tile
  int dims;                   // 2, or 1: a line (h == ho == th == 1, padding on w only)
  int ho, wo;                 // output size
  int th, tw;                 // tiles per image, vertically and horizontally
  long long tiles;            // n * th * tw: tiles take the place of the batch

  WNO_HD static ConvShape from(const wno_conv_desc& d) {
    ConvShape s{};
    s.n = d.batch;
    s.c = d.in_channels;
    s.k = d.out_channels;
    s.h = d.height;
    s.w = d.width;
    s.pad = d.padding;
    s.m = d.tile;
    s.dims = d.dims == 1 ? 1 : 2;
    s.ho = s.dims == 1 ? 1 : s.h + 2 * s.pad - 2;
    s.wo = s.w + 2 * s.pad - 2;
    s.th = s.dims == 1 ? 1 : s.m > 0 ? (s.ho + s.m - 1) / s.m : 0;
    s.tw = s.m > 0 ? (s.wo + s.m - 1) / s.m : 0;
    s.tiles = static_cast<long long>(s.n) * s.th * s.tw;
    return s;
  }
};

// Everything every kernel rejects; sizes stay below 2^31 elements per tensor.
inline bool valid_desc(const wno_conv_desc* d) {
  if (!d) return false;
  if (d->batch < 1 || d->in_channels < 1 || d->out_channels < 1) return false;
  if (!contract::valid_padding(d->padding) || !contract::valid_tile(d->tile)) return false;
  if (d->dims != 0 && d->dims != 1 && d->dims != 2) return false;
  if (d->dims == 1 ? d->height != 1 : d->height + 2 * d->padding < 3) return false;
  if (d->width + 2 * d->padding < 3) return false;
  const long long limit = 1LL << 31;
  const long long x = 1LL * d->batch * d->in_channels * d->height * d->width;
  const long long y = 1LL * d->batch * d->out_channels * d->height * d->width;
  return x < limit && y < limit && 64LL * d->in_channels * d->out_channels < limit;
}

}  // namespace wno
