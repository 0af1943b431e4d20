# ccache when available: the build is dominated by libtorch headers, so cache hits matter.
find_program(DUET_CCACHE ccache)
if(DUET_CCACHE)
  # The precompiled header changes compiler flags in ways ccache must be told to tolerate.
  # BASEDIR + NOHASHDIR make paths relative to the checkout, so a fresh clone elsewhere (CI)
  # and other build folders reuse the same cache entries.
  set(_launcher ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}" "CCACHE_NOHASHDIR=true"
      ${DUET_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${_launcher})
  message(STATUS "duet: using ccache (${DUET_CCACHE})")
endif()
if(DUET_CCACHE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # Lets ccache cache compiles that use the precompiled header (gcc needs the pragma kept).
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fpch-preprocess>)
endif()
