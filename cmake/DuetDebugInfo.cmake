# Compressed debug sections. A libtorch-heavy object carries ~10 MB of DWARF, and the build tree
# (objects, static libraries, test executables, the installed-package check) grew past 5 GB;
# zlib-compressed sections halve that, and gdb, addr2line and backtraces read them as they are.
include(CheckCXXSourceCompiles)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(CMAKE_REQUIRED_FLAGS "-g -gz")
  set(CMAKE_REQUIRED_LINK_OPTIONS "-gz")
  check_cxx_source_compiles("int main() { return 0; }" DUET_HAVE_GZ)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  if(DUET_HAVE_GZ)
    add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-gz>)
    add_link_options($<$<LINK_LANGUAGE:C,CXX>:-gz>)
  endif()
endif()
