# BPFMAP_SANITIZE applies to every target (library, tools, tests) so that the whole process is
# instrumented; the presets "asan" and "tsan" in CMakePresets.json set it.
if(BPFMAP_SANITIZE)
  add_compile_options(-fsanitize=${BPFMAP_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${BPFMAP_SANITIZE})
endif()
