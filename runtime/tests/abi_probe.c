/* The layout of the C ABI (include/wno/winograd.h) as the C compiler sees it, as one JSON
 * object on stdout: WNO_ABI_VERSION, sizeof and the offset and size of every field of
 * wno_conv_desc and wno_cpu_parallel, and the values of the wno_status, wno_dtype and
 * wno_activation enumerators. tests/test_native_abi.py compares it with the ctypes
 * declarations in wno_edge/native/abi.py. A field added to a struct belongs below as well. */
#include <stddef.h>
#include <stdio.h>

#include "wno/winograd.h"

#define FIELD(f) {#f, offsetof(wno_conv_desc, f), sizeof(((wno_conv_desc*)0)->f)}
#define PFIELD(f) {#f, offsetof(wno_cpu_parallel, f), sizeof(((wno_cpu_parallel*)0)->f)}
#define VALUE(v) {#v, (long)(v)}

struct field {
  const char* name;
  size_t offset;
  size_t size;
};

struct value {
  const char* name;
  long value;
};

static const struct field FIELDS[] = {FIELD(batch),  FIELD(in_channels), FIELD(out_channels),
                                      FIELD(height), FIELD(width),       FIELD(padding),
                                      FIELD(tile),   FIELD(dims)};

static const struct field PARALLEL_FIELDS[] = {PFIELD(parallel_for), PFIELD(pool),
                                               PFIELD(num_threads)};

static const struct value STATUS[] = {VALUE(WNO_SUCCESS),
                                      VALUE(WNO_ERROR_INVALID_ARGUMENT),
                                      VALUE(WNO_ERROR_WORKSPACE_TOO_SMALL),
                                      VALUE(WNO_ERROR_OUT_OF_MEMORY),
                                      VALUE(WNO_ERROR_UNSUPPORTED),
                                      VALUE(WNO_ERROR_CUDA),
                                      VALUE(WNO_ERROR_INTERNAL)};

static const struct value DTYPE[] = {VALUE(WNO_FLOAT32), VALUE(WNO_FLOAT16)};

static const struct value ACTIVATION[] = {VALUE(WNO_ACT_NONE), VALUE(WNO_ACT_GELU)};

static void print_fields(const char* key, size_t size, const struct field* f, size_t n) {
  size_t i;
  printf(", \"%s\": {\"size\": %zu, \"fields\": [", key, size);
  for (i = 0; i < n; ++i)
    printf("%s{\"name\": \"%s\", \"offset\": %zu, \"size\": %zu}", i ? ", " : "", f[i].name,
           f[i].offset, f[i].size);
  printf("]}");
}

static void print_values(const char* key, const struct value* v, size_t n) {
  size_t i;
  printf(", \"%s\": {", key);
  for (i = 0; i < n; ++i) printf("%s\"%s\": %ld", i ? ", " : "", v[i].name, v[i].value);
  printf("}");
}

int main(void) {
  printf("{\"abi_version\": %d", WNO_ABI_VERSION);
  print_fields("conv_desc", sizeof(wno_conv_desc), FIELDS, sizeof FIELDS / sizeof FIELDS[0]);
  print_fields("cpu_parallel", sizeof(wno_cpu_parallel), PARALLEL_FIELDS,
               sizeof PARALLEL_FIELDS / sizeof PARALLEL_FIELDS[0]);
  print_values("status", STATUS, sizeof STATUS / sizeof STATUS[0]);
  print_values("dtype", DTYPE, sizeof DTYPE / sizeof DTYPE[0]);
  print_values("activation", ACTIVATION, sizeof ACTIVATION / sizeof ACTIVATION[0]);
  printf("}\n");
  return 0;
}
