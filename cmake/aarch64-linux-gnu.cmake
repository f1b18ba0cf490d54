# Cross-compiles cgotrace for arm64 (aarch64) Linux with Debian's cross
# compiler (g++-aarch64-linux-gnu) against a sysroot of Debian arm64 packages
# (scripts/arm64/sysroot.sh unpacks one; nothing is installed on the host, so
# the host build and its amd64 -dev packages are untouched).
#
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DCGOTRACE_ARM64_SYSROOT=/path/to/sysroot ...
#
# Host programs (clang for the BPF objects, bpftool, protoc) come from the
# host: the BPF object is architecture-specific only in its source
# (-D__TARGET_ARCH_arm64), and protoc's output is portable C++.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

if(NOT CGOTRACE_ARM64_SYSROOT)
  set(CGOTRACE_ARM64_SYSROOT $ENV{CGOTRACE_ARM64_SYSROOT})
endif()
if(NOT CGOTRACE_ARM64_SYSROOT OR NOT EXISTS ${CGOTRACE_ARM64_SYSROOT}/usr/include)
  message(FATAL_ERROR "cgotrace: CGOTRACE_ARM64_SYSROOT must name an arm64 sysroot "
                      "(scripts/arm64/sysroot.sh makes one), got '${CGOTRACE_ARM64_SYSROOT}'")
endif()
# Try-compile projects re-read this file: pass the sysroot on to them.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CGOTRACE_ARM64_SYSROOT)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# The cross compiler's own libc and libstdc++ headers come first; the
# sysroot supplies the libraries' headers and the arm64 .so files.
set(CMAKE_SYSROOT ${CGOTRACE_ARM64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH ${CGOTRACE_ARM64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(ENV{PKG_CONFIG_SYSROOT_DIR} ${CGOTRACE_ARM64_SYSROOT})
set(ENV{PKG_CONFIG_LIBDIR}
    "${CGOTRACE_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${CGOTRACE_ARM64_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Debian's -dev packages link with absolute symlinks (/usr/lib/...); search
# the sysroot for the libraries the .so files need in turn.
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${CGOTRACE_ARM64_SYSROOT}/lib/aarch64-linux-gnu -Wl,-rpath-link,${CGOTRACE_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu")
