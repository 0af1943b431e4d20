# Debian packages (installed by tools/setup.sh); versions pinned there.
find_package(nlohmann_json 3.11 REQUIRED)
find_package(CLI11 2.1 REQUIRED)
find_package(spdlog 1.10 REQUIRED)
find_package(fmt 9 REQUIRED)
find_package(FFmpeg REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
find_package(Threads REQUIRED)

# The torch wheel ships its own fmt (12.x) headers in its include folder, which would shadow
# Debian's fmt 9 that spdlog 1.10 is built against. A folder holding only Debian's fmt, added
# with -I (searched before torch's -isystem folders), makes every <fmt/...> resolve to fmt 9.
get_target_property(_fmt_inc fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
list(GET _fmt_inc 0 _fmt_inc)
set(DUET_FMT_SHIM "${PROJECT_BINARY_DIR}/fmt-shim")
file(MAKE_DIRECTORY "${DUET_FMT_SHIM}")
if(NOT EXISTS "${DUET_FMT_SHIM}/fmt")
  file(CREATE_LINK "${_fmt_inc}/fmt" "${DUET_FMT_SHIM}/fmt" SYMBOLIC)
endif()
