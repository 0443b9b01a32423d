if(SL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Fuzz builds (clang only): every target, so every sl_* library, gets libFuzzer's coverage
# instrumentation plus ASan+UBSan; the fuzz_* harnesses add libFuzzer itself at link time
# (tests/CMakeLists.txt). Replay runners link without libFuzzer: the ASan runtime provides the
# coverage hooks. Normal builds are unchanged.
if(SL_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SL_FUZZ=ON needs clang: configure with -DCMAKE_C_COMPILER=clang")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
