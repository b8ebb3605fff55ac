# Warnings for every target of ours: bpfmap_warnings(<target>).
function(bpfmap_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion)
  if(BPFMAP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
