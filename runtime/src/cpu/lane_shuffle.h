// Strided lane moves between NCHW rows and "one tile per lane" vectors, done with
// two-source shuffles (vpermt2ps on AVX-512, uzp/zip/tbl on NEON) instead of scalar
// gathers: tile l of a tile row starts at float l * M of the row.
//
//   deinterleave: D_j[l] = row[l * M + j],  j < M + 2 (input patch columns)
//   interleave:   row[l * M + s] = O_s[l],  s < M     (output tile columns)
#pragma once

#include <utility>

#include "simd.h"

namespace WNO_CPU_NS {

template <typename Mask, std::size_t... I>
WNO_FORCE_INLINE vf shuffle(vf a, vf b, std::index_sequence<I...>) {
#if defined(__clang__) || (__GNUC__ >= 12 && !defined(WNO_FORCE_BUILTIN_SHUFFLE))
  return __builtin_shufflevector(a, b, Mask::at(static_cast<int>(I))...);
#else  // GCC 11 (Ubuntu 22.04, JetPack 6) has only the mask-vector form
  typedef int vi __attribute__((vector_size(kVecBytes)));
  const vi mask = {Mask::at(static_cast<int>(I))...};
  return __builtin_shuffle(a, b, mask);
#endif
}

template <typename Mask>
WNO_FORCE_INLINE vf shuffle(vf a, vf b) {
  return shuffle<Mask>(a, b, std::make_index_sequence<VL>{});
}

// Lane l of deinterleaved column J reads float l * M + J of S_0..S_{M-1} (M vectors).
template <int M, int J>
struct Column {
  static constexpr int source(int l) { return (l * M + J) / VL; }
  static constexpr int offset(int l) { return (l * M + J) % VL; }
};

// Lane l of interleaved vector T reads lane (T * VL + l) / M of O_{(T * VL + l) % M}.
template <int M, int T>
struct Spread {
  static constexpr int source(int l) { return (T * VL + l) % M; }
  static constexpr int offset(int l) { return (T * VL + l) / M; }
};

// Leaf: the lanes whose source is LO (from a) or LO + 1 (from b) land in place.
template <typename Map, int LO>
struct LeafMask {
  static constexpr int at(int l) {
    return Map::source(l) == LO       ? Map::offset(l)
           : Map::source(l) == LO + 1 ? VL + Map::offset(l)
                                      : 0;
  }
};

// Merge: lanes of sources [LO, MID) from a, [MID, HI) from b (both already in place).
template <typename Map, int LO, int MID, int HI>
struct MergeMask {
  static constexpr int at(int l) {
    return Map::source(l) >= MID && Map::source(l) < HI ? VL + l : l;
  }
};

// Combines sources [LO, HI) into one vector with a tree of HI - LO - 1 shuffles (a
// lone leaf costs one more); lanes fed by other sources are left undefined.
template <typename Map, int LO, int HI>
WNO_FORCE_INLINE vf gather(const vf* src) {
  if constexpr (HI - LO <= 2) {
    return shuffle<LeafMask<Map, LO>>(src[LO], src[HI - LO == 2 ? LO + 1 : LO]);
  } else {
    constexpr int MID = LO + 2 * ((HI - LO + 3) / 4);  // even split keeps leaves paired
    return shuffle<MergeMask<Map, LO, MID, HI>>(gather<Map, LO, MID>(src),
                                                gather<Map, MID, HI>(src));
  }
}

// Lanes 1..VL-1 of a, then lane E of b: a column shifted one tile right.
template <int E>
struct ShiftMask {
  static constexpr int at(int l) { return l < VL - 1 ? l + 1 : VL + E; }
};

// Lane l of the even (odd) half of a : b is lane 2 l (2 l + 1) of the 2 VL-lane concatenation;
// Zip<H> interleaves the lanes of half H (0 low, 1 high) of a and b: a[k], b[k], ...
struct Evens {
  static constexpr int at(int l) { return 2 * l; }
};
struct Odds {
  static constexpr int at(int l) { return 2 * l + 1; }
};
template <int H>
struct Zip {
  static constexpr int at(int l) { return (l % 2 ? VL : 0) + H * VL / 2 + l / 2; }
};

template <int M, int J = 0>
WNO_FORCE_INLINE void columns(const vf* s, vf* d) {
  if constexpr (M == 4 && VL >= 4) {  // two rounds of even/odd splits: 8 shuffles, not 4 x 3
    const vf t0 = shuffle<Evens>(s[0], s[1]), t1 = shuffle<Odds>(s[0], s[1]);
    const vf t2 = shuffle<Evens>(s[2], s[3]), t3 = shuffle<Odds>(s[2], s[3]);
    d[0] = shuffle<Evens>(t0, t2);
    d[1] = shuffle<Evens>(t1, t3);
    d[2] = shuffle<Odds>(t0, t2);
    d[3] = shuffle<Odds>(t1, t3);
  } else {
    d[J] = gather<Column<M, J>, 0, M>(s);
    if constexpr (J + 1 < M) columns<M, J + 1>(s, d);
  }
}

// d[j], j < M + 2, from row[0 .. M * VL + VL): one patch row of VL consecutive tiles.
template <int M>
WNO_FORCE_INLINE void deinterleave(const float* row, vf* d) {
  vf s[M];
  WNO_UNROLL for (int t = 0; t < M; ++t)
    s[t] = load(row + t * VL);
  columns<M>(s, d);
  const vf next = load(row + M * VL);  // columns M, M + 1 are columns 0, 1 of the next tile
  d[M] = shuffle<ShiftMask<0>>(d[0], next);
  d[M + 1] = shuffle<ShiftMask<1>>(d[1], next);
}

// row[0 .. M * VL) from o[0 .. M): VL output tiles' row, M floats each.
template <int M, int T = 0>
WNO_FORCE_INLINE void interleave(const vf* o, vf* row) {
  if constexpr (M == 4 && VL >= 4) {  // columns<4> backwards: two rounds of zips
    const vf t0 = shuffle<Zip<0>>(o[0], o[2]), t2 = shuffle<Zip<1>>(o[0], o[2]);
    const vf t1 = shuffle<Zip<0>>(o[1], o[3]), t3 = shuffle<Zip<1>>(o[1], o[3]);
    row[0] = shuffle<Zip<0>>(t0, t1);
    row[1] = shuffle<Zip<1>>(t0, t1);
    row[2] = shuffle<Zip<0>>(t2, t3);
    row[3] = shuffle<Zip<1>>(t2, t3);
  } else {
    row[T] = gather<Spread<M, T>, 0, M>(o);
    if constexpr (T + 1 < M) interleave<M, T + 1>(o, row);
  }
}

}  // namespace WNO_CPU_NS
