# inspect_test runs the bpfmap-inspect binary: BPFMAP_INSPECT tells it where the binary is (it
# falls back to <build>/tools/inspect/bpfmap-inspect). It also links bpfmap_shm, to check
# --help against shm::find_map_type(), and parses the tool's JSON with nlohmann-json.
# Included at the end of tests/CMakeLists.txt (tools/ is configured before tests/).
# Other tests run 'bpfmap-inspect fsck' to check a map after a crash: every test binary gets
# the tool built first and BPFMAP_INSPECT set.
if(TARGET bpfmap-inspect)
  foreach(src ${BPFMAP_TEST_SOURCES})
    get_filename_component(name ${src} NAME_WE)
    add_dependencies(${name} bpfmap-inspect)
    set_tests_properties(${name} PROPERTIES ENVIRONMENT BPFMAP_INSPECT=$<TARGET_FILE:bpfmap-inspect>)
  endforeach()
endif()

if(TARGET inspect_test)
  find_package(nlohmann_json REQUIRED)
  target_link_libraries(inspect_test PRIVATE bpfmap_shm nlohmann_json::nlohmann_json)
  if(TARGET bpfmap-inspect)
    add_dependencies(inspect_test bpfmap-inspect)
    set_tests_properties(inspect_test PROPERTIES
                         ENVIRONMENT BPFMAP_INSPECT=$<TARGET_FILE:bpfmap-inspect>
                         TIMEOUT 600)
  else()
    # Tools not built (BPFMAP_BUILD_TOOLS=OFF): nothing to run the test against.
    set_tests_properties(inspect_test PROPERTIES DISABLED TRUE)
  endif()
endif()
