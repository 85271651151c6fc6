# Rules for colo's BPF objects: clang -g -O2 -target bpf (warnings are errors),
# then bpftool gen object + gen skeleton. Skeletons embed the object, so the
# single build/colo binary carries its BPF programs.
find_program(CLANG_EXE NAMES clang REQUIRED)
find_program(BPFTOOL_EXE NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

set(COLO_BPF_ARCH x86)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(COLO_BPF_ARCH arm64)
endif()

# colo_bpf_skeleton(NAME name SOURCE file.bpf.c) -> ${CMAKE_BINARY_DIR}/bpf/name.skel.h
function(colo_bpf_skeleton)
  cmake_parse_arguments(ARG "" "NAME;SOURCE" "" ${ARGN})
  set(out_dir ${CMAKE_BINARY_DIR}/bpf)
  set(obj ${out_dir}/${ARG_NAME}.bpf.o)
  set(linked ${out_dir}/${ARG_NAME}.linked.o)
  set(skel ${out_dir}/${ARG_NAME}.skel.h)
  file(GLOB bpf_headers ${CMAKE_SOURCE_DIR}/bpf/include/*.h ${CMAKE_SOURCE_DIR}/bpf/api/*.h)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${CLANG_EXE} -g -O2 -target bpf -D__TARGET_ARCH_${COLO_BPF_ARCH}
            -Wall -Werror -Wno-unused-function
            -I${CMAKE_SOURCE_DIR}/bpf/vmlinux/${COLO_BPF_ARCH}
            -I${CMAKE_SOURCE_DIR}/bpf/include -I${CMAKE_SOURCE_DIR}/bpf/api
            -c ${ARG_SOURCE} -o ${obj}
    COMMAND ${BPFTOOL_EXE} gen object ${linked} ${obj}
    COMMAND ${BPFTOOL_EXE} gen skeleton ${linked} name ${ARG_NAME} > ${skel}
    DEPENDS ${ARG_SOURCE} ${bpf_headers}
    COMMENT "BPF ${ARG_NAME}: compile and generate skeleton"
    VERBATIM)
  set(COLO_BPF_SKELETONS ${COLO_BPF_SKELETONS} ${skel} PARENT_SCOPE)
endfunction()
