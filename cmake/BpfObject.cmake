# cgotrace_bpf_object(NAME <name> SOURCE <x.bpf.c> ARCH <x86|arm64>)
#
# Compiles a BPF C source with clang for one target architecture and, for the
# host architecture, turns the object into a libbpf skeleton header. Creates
# an INTERFACE target <name>_skel that carries the skeleton's include dir and
# the libbpf link. No vmlinux.h is generated from the build host: the BPF code
# uses only UAPI headers (pt_regs from <asm/ptrace.h>), so the build is
# reproducible on any machine with the Debian packages.
find_program(BPF_CLANG clang REQUIRED)
find_program(BPFTOOL bpftool REQUIRED PATHS /usr/sbin /sbin)

function(cgotrace_bpf_object)
  cmake_parse_arguments(ARG "" "NAME;SOURCE;ARCH" "DEPENDS" ${ARGN})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${ARG_ARCH})
  set(obj ${out_dir}/${ARG_NAME}.bpf.o)
  if(ARG_ARCH STREQUAL "x86")
    set(sys_inc /usr/include/x86_64-linux-gnu)
  elseif(ARG_ARCH STREQUAL "arm64")
    set(sys_inc /usr/aarch64-linux-gnu/include)
  else()
    message(FATAL_ERROR "cgotrace_bpf_object: unknown ARCH ${ARG_ARCH}")
  endif()
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${ARG_ARCH}
            -Wall -Werror
            -I${CMAKE_SOURCE_DIR}/bpf -idirafter ${sys_inc}
            -c ${ARG_SOURCE} -o ${obj}
    DEPENDS ${ARG_SOURCE} ${ARG_DEPENDS}
    COMMENT "BPF ${ARG_NAME} (${ARG_ARCH})"
    VERBATIM)
  add_custom_target(${ARG_NAME}_${ARG_ARCH}_obj ALL DEPENDS ${obj})
  set(${ARG_NAME}_${ARG_ARCH}_OBJECT ${obj} PARENT_SCOPE)

  if(ARG_ARCH STREQUAL "x86" AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64"
     OR ARG_ARCH STREQUAL "arm64" AND CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
    set(skel_dir ${CMAKE_CURRENT_BINARY_DIR}/skel)
    set(skel ${skel_dir}/${ARG_NAME}.skel.h)
    add_custom_command(
      OUTPUT ${skel}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${skel_dir}
      COMMAND sh -c "${BPFTOOL} gen skeleton ${obj} name ${ARG_NAME}_bpf > ${skel}.tmp && mv ${skel}.tmp ${skel}"
      DEPENDS ${obj}
      COMMENT "skeleton ${ARG_NAME}.skel.h"
      VERBATIM)
    add_custom_target(${ARG_NAME}_skel_gen DEPENDS ${skel})
    add_library(${ARG_NAME}_skel INTERFACE)
    add_dependencies(${ARG_NAME}_skel ${ARG_NAME}_skel_gen)
    # SYSTEM: the generated skeleton is not ours to lint.
    target_include_directories(${ARG_NAME}_skel SYSTEM INTERFACE ${skel_dir})
    target_link_libraries(${ARG_NAME}_skel INTERFACE PkgConfig::LIBBPF PkgConfig::LIBELF)
  endif()
endfunction()
