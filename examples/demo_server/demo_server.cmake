# redis_session_add_demo_server(TARGET): the full demo server
# (examples/demo_server/). examples/ builds it as `demo_server`; the
# sanitizer flavours, which build no examples, build their own copy for the
# reliability tests (tests/reliability/CMakeLists.txt), with the same flags.
set(REDIS_SESSION_DEMO_SERVER_DIR ${CMAKE_CURRENT_LIST_DIR})
function(redis_session_add_demo_server target)
  add_executable(${target}
    ${REDIS_SESSION_DEMO_SERVER_DIR}/main.cpp
    ${REDIS_SESSION_DEMO_SERVER_DIR}/app.cpp
    ${REDIS_SESSION_DEMO_SERVER_DIR}/options.cpp)
  target_link_libraries(${target} PRIVATE redis_session::redis_session redis_session_warnings Boost::headers)
  # One translation unit, as when the server was one file: the compiler
  # inlines across the files again (callgrind, tests/bench/profile_http.sh:
  # about 750 more instructions per request, 1.3 %, with three units).
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 0)
  # Asio without the deprecated interfaces keeps the demo on the current API.
  target_compile_definitions(${target} PRIVATE BOOST_ASIO_NO_DEPRECATED)
  # GCC 12 reports a false "maybe-uninitialized" inside Beast's own parser
  # (boost::optional in basic_parser::content_length) once sanitizers change
  # the inlining; the code is Beast's, so only that warning is silenced.
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
endfunction()
