# demo_server with bad arguments: a usage message on stderr and exit status 2.
# Run as: cmake -DPROGRAM=/path/to/demo_server -P expect_usage.cmake
foreach(args "--threads;0" "--store;nosql" "--listen;nohost" "--listen;127.0.0.1:99999" "--idle-timeout;-5"
             "--bogus" "--redis;http://not-redis/" "--listen;not-an-ip:80" "--namespace")
  execute_process(COMMAND ${PROGRAM} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 10)
  if(NOT rc EQUAL 2 OR NOT err MATCHES "usage: demo_server")
    message(FATAL_ERROR "demo_server ${args}: expected exit 2 and a usage message, got ${rc}:\n${out}${err}")
  endif()
  message(STATUS "demo_server ${args} -> exit 2 with usage")
endforeach()
execute_process(COMMAND ${PROGRAM} --help RESULT_VARIABLE rc OUTPUT_VARIABLE out TIMEOUT 10)
if(NOT rc EQUAL 0 OR NOT out MATCHES "usage: demo_server")
  message(FATAL_ERROR "demo_server --help: expected exit 0 and the usage, got ${rc}")
endif()
