# Findhiredis: Debian's libhiredis-dev ships no CMake package, only a .pc file.
# Defines the imported target hiredis::hiredis (and hiredis_FOUND,
# hiredis_VERSION). A hiredis that ships its own config package is used first.
include(FindPackageHandleStandardArgs)

find_package(hiredis CONFIG QUIET NO_MODULE)
if(TARGET hiredis::hiredis)
  set(hiredis_FOUND TRUE)
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_HIREDIS QUIET hiredis)
endif()

find_path(hiredis_INCLUDE_DIR NAMES hiredis/hiredis.h HINTS ${PC_HIREDIS_INCLUDEDIR} ${PC_HIREDIS_INCLUDE_DIRS})
find_library(hiredis_LIBRARY NAMES hiredis HINTS ${PC_HIREDIS_LIBDIR} ${PC_HIREDIS_LIBRARY_DIRS})

if(hiredis_INCLUDE_DIR AND EXISTS "${hiredis_INCLUDE_DIR}/hiredis/hiredis.h")
  file(STRINGS "${hiredis_INCLUDE_DIR}/hiredis/hiredis.h" _hiredis_ver REGEX "^#define HIREDIS_(MAJOR|MINOR|PATCH) [0-9]+")
  string(REGEX REPLACE ".*HIREDIS_MAJOR ([0-9]+).*" "\\1" _maj "${_hiredis_ver}")
  string(REGEX REPLACE ".*HIREDIS_MINOR ([0-9]+).*" "\\1" _min "${_hiredis_ver}")
  string(REGEX REPLACE ".*HIREDIS_PATCH ([0-9]+).*" "\\1" _pat "${_hiredis_ver}")
  set(hiredis_VERSION "${_maj}.${_min}.${_pat}")
endif()

find_package_handle_standard_args(hiredis
  REQUIRED_VARS hiredis_LIBRARY hiredis_INCLUDE_DIR
  VERSION_VAR hiredis_VERSION)

if(hiredis_FOUND AND NOT TARGET hiredis::hiredis)
  add_library(hiredis::hiredis UNKNOWN IMPORTED)
  set_target_properties(hiredis::hiredis PROPERTIES
    IMPORTED_LOCATION "${hiredis_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${hiredis_INCLUDE_DIR}")
endif()
mark_as_advanced(hiredis_INCLUDE_DIR hiredis_LIBRARY)
