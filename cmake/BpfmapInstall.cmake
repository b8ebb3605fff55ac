# cmake --install puts headers under include/bpfmap/, the library under lib/, and a package
# config so that find_package(bpfmap) gives the target bpfmap::bpfmap.
include(CMakePackageConfigHelpers)
install(TARGETS bpfmap EXPORT bpfmapTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/api/include/bpfmap DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT bpfmapTargets NAMESPACE bpfmap:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/bpfmap)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/bpfmapConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/bpfmapConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/bpfmap)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/bpfmapConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/bpfmapConfig.cmake ${PROJECT_BINARY_DIR}/bpfmapConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/bpfmap)
