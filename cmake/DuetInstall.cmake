# `cmake --install` puts the binary, the public headers, the embedded model and the presets
# in a prefix, and exports duet::duet for projects that embed the library.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
install(TARGETS duet_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/duet DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} PATTERN "*.in" EXCLUDE)
install(DIRECTORY models configs DESTINATION ${CMAKE_INSTALL_DATADIR}/duet)
# duet::duet: what an application links (include/duet/duet.h is its whole interface).
add_library(duet INTERFACE)
target_link_libraries(duet INTERFACE duet_lib)
add_library(duet::duet ALIAS duet)
install(FILES "${PROJECT_BINARY_DIR}/include/duet/version.h" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/duet)
set(_duet_export duet duet_base duet_lib duet_torch)
if(TARGET duet_kernels)
  list(APPEND _duet_export duet_kernels)
  install(DIRECTORY kernels/runtime DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/duet/kernels
          FILES_MATCHING PATTERN "*.h")
endif()
install(TARGETS ${_duet_export} EXPORT duetTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT duetTargets NAMESPACE duet:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duet)
configure_package_config_file(cmake/duetConfig.cmake.in
    "${CMAKE_CURRENT_BINARY_DIR}/duetConfig.cmake" INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duet)
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/duetConfigVersion.cmake"
    COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/duetConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/duetConfigVersion.cmake"
    cmake/FindFFmpeg.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duet)
