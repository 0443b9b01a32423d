# Writes sluice(1): cmake -DSLUICE=<sluice binary> -DOUT=<file> -P cmake/man.cmake
execute_process(COMMAND ${SLUICE} config man OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "sluice config man failed: ${rc}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
