# cpp-httplib is optional: Debian's libcpp-httplib-dev is a compiled library
# (pkg-config cpp-httplib), upstream's is one header. Defines the interface
# target redis_session_httplib when either is found; included by examples/
# and tests/, which see the same target.
if(NOT TARGET redis_session_httplib)
  find_path(REDIS_SESSION_HTTPLIB_INCLUDE_DIR httplib.h)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(REDIS_SESSION_CPP_HTTPLIB QUIET IMPORTED_TARGET GLOBAL cpp-httplib)
  endif()
  if(TARGET PkgConfig::REDIS_SESSION_CPP_HTTPLIB)
    add_library(redis_session_httplib INTERFACE)
    target_link_libraries(redis_session_httplib INTERFACE PkgConfig::REDIS_SESSION_CPP_HTTPLIB)
  elseif(REDIS_SESSION_HTTPLIB_INCLUDE_DIR)
    add_library(redis_session_httplib INTERFACE)
    target_include_directories(redis_session_httplib SYSTEM INTERFACE ${REDIS_SESSION_HTTPLIB_INCLUDE_DIR})
    target_link_libraries(redis_session_httplib INTERFACE Threads::Threads)
  else()
    message(STATUS "redis_session: httplib.h not found (Debian: libcpp-httplib-dev); no httplib example or test")
  endif()
endif()
