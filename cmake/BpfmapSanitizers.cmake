# BPFMAP_SANITIZE applies to every target (library, tools, tests) so that the whole process is
# instrumented; the presets "asan" and "tsan" in CMakePresets.json set it.
if(BPFMAP_SANITIZE)
  add_compile_options(-fsanitize=${BPFMAP_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${BPFMAP_SANITIZE})
endif()
if(BPFMAP_SANITIZE MATCHES "thread")
  # The seqlocks (shm/seqlock.hpp) use std::atomic_thread_fence, which TSan does not model: GCC
  # warns (-Wtsan), and TSan reports the readers' copies of racing bytes, which the protocol
  # then discards. Expect such reports from the TSan build; they are not bugs by themselves.
  add_compile_options(-Wno-tsan)
endif()
