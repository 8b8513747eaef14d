// One (tile, math) pair of kernel v2's emulation: CMake compiles this file once per pair
// with WNO_EMU_V2_TILE, WNO_EMU_V2_MATH and WNO_EMU_V2_T set (see emulate_grid_v2.h).
#include "emulate_grid_v2.h"

namespace wno {
namespace cuda {
namespace emu {

WNO_EMU_V2_INSTANCE(WNO_EMU_V2_TILE, WNO_EMU_V2_MATH, WNO_EMU_V2_T);

}  // namespace emu
}  // namespace cuda
}  // namespace wno
