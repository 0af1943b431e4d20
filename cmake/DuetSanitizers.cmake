# ASan + UBSan for the debug preset. libtorch itself is not instrumented; that is fine for
# finding bugs in our parsers and glue, which is where untrusted bytes are handled.
if(DUET_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  message(STATUS "duet: ASan + UBSan enabled")
endif()
