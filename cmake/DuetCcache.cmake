# ccache when available: the build is dominated by libtorch headers, so cache hits matter.
find_program(DUET_CCACHE ccache)
if(DUET_CCACHE)
  # The precompiled header changes compiler flags in ways ccache must be told to tolerate.
  set(_launcher ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      ${DUET_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${_launcher})
  message(STATUS "duet: using ccache (${DUET_CCACHE})")
endif()
