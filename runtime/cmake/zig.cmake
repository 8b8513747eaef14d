# Build with zig's clang against an old glibc, native or cross, without a sysroot: zig ships the
# C library's headers and link stubs for every glibc version, and links libc++, libunwind and
# compiler-rt statically, so the libraries need only libc (the wheels: tools/build_wheels.py).
#   pip install ziglang
#   cmake -S runtime -B build/zig-aarch64 -DCMAKE_TOOLCHAIN_FILE=runtime/cmake/zig.cmake \
#         -DWNO_ZIG_TARGET=aarch64-linux-gnu.2.31 [-DWNO_ZIG=/path/to/zig]
# WNO_ZIG_TARGET: <arch>-linux-gnu.<glibc>, default x86_64-linux-gnu.2.31 (manylinux_2_31).
# WNO_ZIG: the zig executable; default: the one of the `ziglang` package of the first python3
# (or $WNO_ZIG_PYTHON) on PATH.
if(CMAKE_VERSION VERSION_LESS 3.19)
  message(FATAL_ERROR "wno: zig.cmake needs CMake >= 3.19 (a compiler given as a list)")
endif()
set(WNO_ZIG_TARGET "x86_64-linux-gnu.2.31" CACHE STRING "zig target: <arch>-linux-gnu.<glibc version>")
set(WNO_ZIG "" CACHE FILEPATH "zig executable (default: python3 -m ziglang's)")
# try_compile() projects read this file again: hand them the two settings.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES WNO_ZIG_TARGET WNO_ZIG)

if(NOT WNO_ZIG)
  set(wno_python "$ENV{WNO_ZIG_PYTHON}")
  if(NOT wno_python)
    find_program(wno_python NAMES python3 python REQUIRED)
  endif()
  execute_process(
    COMMAND "${wno_python}" -c "import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), 'zig'))"
    OUTPUT_VARIABLE wno_zig OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE wno_rc)
  if(NOT wno_rc EQUAL 0 OR NOT EXISTS "${wno_zig}")
    message(FATAL_ERROR "wno: zig not found: pip install ziglang, or set -DWNO_ZIG=/path/to/zig")
  endif()
  set(WNO_ZIG "${wno_zig}" CACHE FILEPATH "zig executable (default: python3 -m ziglang's)" FORCE)
endif()

string(REGEX MATCH "^[^-]+" wno_arch "${WNO_ZIG_TARGET}")
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${wno_arch})
# The compiler as a list: the zig executable, its clang driver and the target (CMake >= 3.19).
set(CMAKE_C_COMPILER "${WNO_ZIG}" cc -target ${WNO_ZIG_TARGET})
set(CMAKE_CXX_COMPILER "${WNO_ZIG}" c++ -target ${WNO_ZIG_TARGET})
# zig's compiler-rt answers "no" to every __builtin_cpu_supports() (a stub): link a real
# __cpu_indicator_init (zig_cpu_model.c) into every target, so the x86 libraries pick their AVX2 and
# AVX-512 loops at run time. Compiled once per build tree (and once per try_compile project).
if(wno_arch STREQUAL "x86_64")
  set(wno_cpu_model "${CMAKE_BINARY_DIR}/wno_zig_cpu_model.o")
  set(wno_cpu_model_src "${CMAKE_CURRENT_LIST_DIR}/zig_cpu_model.c")
  if(NOT EXISTS "${wno_cpu_model}" OR "${wno_cpu_model_src}" IS_NEWER_THAN "${wno_cpu_model}")
    execute_process(
      COMMAND "${WNO_ZIG}" cc -target ${WNO_ZIG_TARGET} -O2 -fPIC -Wall -Wextra -Werror -c "${wno_cpu_model_src}"
              -o "${wno_cpu_model}"
      RESULT_VARIABLE wno_rc ERROR_VARIABLE wno_err)
    if(NOT wno_rc EQUAL 0)
      message(FATAL_ERROR "wno: compiling ${wno_cpu_model_src} with zig failed:\n${wno_err}")
    endif()
  endif()
  set(CMAKE_C_STANDARD_LIBRARIES_INIT "${wno_cpu_model}")
  set(CMAKE_CXX_STANDARD_LIBRARIES_INIT "${wno_cpu_model}")
endif()
# Nothing of the build host's libraries or headers.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
