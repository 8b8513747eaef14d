#pragma once
// What the emulation's translation units share: the exported-symbol macro and the guard
// words behind each block's shared memory (an overrun changes them and fails the call).
namespace wno {
namespace cuda {
constexpr int kGuard = 64;  // words behind the shared memory
}  // namespace cuda
}  // namespace wno

#define WNO_EMU_API extern "C" __attribute__((visibility("default")))
