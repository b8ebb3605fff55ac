# inspect_test runs the bpfmap-inspect binary: BPFMAP_INSPECT tells it where the binary is (it
# falls back to <build>/tools/inspect/bpfmap-inspect). It also links bpfmap_shm, to check
# --help against shm::find_map_type(), and parses the tool's JSON with nlohmann-json.
# Included at the end of tests/CMakeLists.txt (tools/ is configured before tests/).
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
