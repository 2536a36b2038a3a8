# cmake -DINPUT=FILE -DEXPECTED=FILE -P run_exact.cmake -- COMMAND [ARGS...]
#
# Runs COMMAND (no shell) with FILE as its stdin and passes only when it exits
# with status 0, its stdout is exactly the content of EXPECTED and its stderr
# holds no sanitizer report. A crash, a sanitizer abort, a nonzero exit or any
# difference in the output fails, with the output, the expectation and the
# stderr in the message.
cmake_minimum_required(VERSION 3.25)
foreach(var INPUT EXPECTED)
  if(NOT DEFINED ${var} OR NOT EXISTS "${${var}}")
    message(FATAL_ERROR "run_exact.cmake: -D${var}=<existing file> is required")
  endif()
endforeach()

# The command is everything after "--" (CMake passes what follows it unparsed).
set(cmd)
set(in_cmd FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(in_cmd)
    if(CMAKE_ARGV${i} MATCHES ";")
      message(FATAL_ERROR "run_exact.cmake: an argument holds ';' (a CMake list separator)")
    endif()
    list(APPEND cmd "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(in_cmd TRUE)
  endif()
endforeach()
if(NOT cmd)
  message(FATAL_ERROR "run_exact.cmake: no command given after --")
endif()

file(READ "${EXPECTED}" expected)
execute_process(COMMAND ${cmd}
  INPUT_FILE "${INPUT}"
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  RESULT_VARIABLE rc)

set(problems)
if(NOT rc STREQUAL "0")
  # a number for an exit status, a text such as "Child aborted" for a signal
  list(APPEND problems "exit status: ${rc} (expected 0)")
endif()
if(NOT out STREQUAL expected)
  list(APPEND problems "stdout differs from ${EXPECTED}")
endif()
if(err MATCHES "(ERROR: [A-Za-z]+Sanitizer|WARNING: ThreadSanitizer|SUMMARY: [A-Za-z]+Sanitizer|runtime error: )")
  list(APPEND problems "sanitizer report in stderr")
endif()
if(problems)
  list(JOIN problems "; " why)
  list(JOIN cmd " " cmd_text)
  message(FATAL_ERROR "FAIL: ${why}\n"
    "command: ${cmd_text}\n"
    "---- expected stdout ----\n${expected}"
    "---- actual stdout ----\n${out}"
    "---- stderr ----\n${err}")
endif()
message(STATUS "ok: exit status 0, stdout as expected, no sanitizer report")
