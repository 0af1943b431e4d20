# ASan + UBSan for the debug preset. libtorch itself is not instrumented; that is fine for
# finding bugs in our parsers and glue, which is where untrusted bytes are handled.
if(DUET_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  message(STATUS "duet: ASan + UBSan enabled")
endif()

# Fuzzing: every library is instrumented for coverage and ASan/UBSan, so libFuzzer sees the
# parsers' branches; only the fuzz targets link the libFuzzer driver.
if(DUET_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DUET_BUILD_FUZZERS needs clang (use the 'fuzz' preset)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
