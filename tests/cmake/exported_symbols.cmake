# cmake -DNM=nm -DLIB=libmcpfwd.so.0 -P exported_symbols.cmake
#
# The shared library's dynamic symbol table exports the C API only: every
# defined symbol is mcpfwd_* (or the version node MCPFWD_*). nm must succeed
# and list the API's entry points (so an empty or failed listing cannot pass).
cmake_minimum_required(VERSION 3.25)
foreach(var NM LIB)
  if(NOT DEFINED ${var} OR ${var} STREQUAL "")
    message(FATAL_ERROR "exported_symbols.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND "${NM}" -D --defined-only "${LIB}"
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  RESULT_VARIABLE rc)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "FAIL: ${NM} -D --defined-only ${LIB} exited with ${rc}:\n${err}")
endif()

string(REPLACE "\n" ";" lines "${out}")
set(api)
set(foreign)
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  # "<value> <type> <name>[@@<version>]"
  if(NOT line MATCHES "^[0-9a-fA-F]* *[A-Za-z] ([^ @]+)(@.*)?$")
    message(FATAL_ERROR "FAIL: unexpected line from nm: '${line}'")
  endif()
  set(name "${CMAKE_MATCH_1}")
  if(name MATCHES "^mcpfwd_")
    list(APPEND api "${name}")
  elseif(NOT name MATCHES "^MCPFWD_")
    list(APPEND foreign "${name}")
  endif()
endforeach()

if(foreign)
  list(LENGTH foreign n)
  list(JOIN foreign "\n  " names)
  message(FATAL_ERROR "FAIL: ${LIB} exports ${n} symbol(s) outside the C API:\n  ${names}")
endif()
foreach(required mcpfwd_config_new mcpfwd_proxy_new mcpfwd_proxy_free mcpfwd_status_str)
  if(NOT required IN_LIST api)
    message(FATAL_ERROR "FAIL: ${required} is not among the exported symbols of ${LIB}:\n${out}")
  endif()
endforeach()
list(LENGTH api n)
message(STATUS "ok: ${n} exported symbols, all mcpfwd_*")
