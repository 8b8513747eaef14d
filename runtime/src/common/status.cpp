// ABI entry points shared by the CPU and CUDA libraries.
#include "conv_shape.h"

extern "C" {

int wno_abi_version(void) { return WNO_ABI_VERSION; }

const char* wno_status_string(wno_status status) {
  switch (status) {
    case WNO_SUCCESS:
      return "success";
    case WNO_ERROR_INVALID_ARGUMENT:
      return "invalid argument";
    case WNO_ERROR_WORKSPACE_TOO_SMALL:
      return "workspace too small";
    case WNO_ERROR_OUT_OF_MEMORY:
      return "out of memory";
    case WNO_ERROR_UNSUPPORTED:
      return "unsupported";
    case WNO_ERROR_CUDA:
      return "CUDA error";
    case WNO_ERROR_INTERNAL:
      return "internal error";
  }
  return "unknown status";
}

wno_status wno_conv_output_size(const wno_conv_desc* desc, int* out_height, int* out_width) {
  if (!wno::valid_desc(desc) || !out_height || !out_width) return WNO_ERROR_INVALID_ARGUMENT;
  const wno::ConvShape s = wno::ConvShape::from(*desc);
  *out_height = s.ho;
  *out_width = s.wo;
  return WNO_SUCCESS;
}

}  // extern "C"
