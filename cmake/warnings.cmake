# Compiler warnings for sluice's own code (third-party sources get none of these).
set(SL_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wformat=2 -Wno-unused-parameter)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU") # clang (fuzz builds) has no such warning
  list(APPEND SL_WARNINGS -Wno-format-truncation) # snprintf truncates on purpose (messages, excerpts)
endif()
if(SL_WERROR)
  list(APPEND SL_WARNINGS -Werror)
endif()

# sl_module(NAME DIR...) builds one static library from every .c file under the given folders.
function(sl_module name)
  set(srcs)
  foreach(dir ${ARGN})
    file(GLOB_RECURSE found CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*.c)
    list(APPEND srcs ${found})
  endforeach()
  if(NOT srcs)
    set(srcs ${CMAKE_BINARY_DIR}/empty_${name}.c)
    file(WRITE ${srcs} "/* ${name} has no sources yet */\nextern int sl_empty_${name};\n")
  endif()
  add_library(${name} STATIC ${srcs})
  target_compile_options(${name} PRIVATE ${SL_WARNINGS})
endfunction()
