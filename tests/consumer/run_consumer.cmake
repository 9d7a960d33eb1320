# ctest driver: builds tests/consumer/project against redis_session, either
# installed into a temp prefix (MODE=find_package) or via add_subdirectory,
# then runs the program. Inputs: MODE, SOURCE_DIR, BUILD_DIR, WORK_DIR, GENERATOR.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

include("${CMAKE_CURRENT_LIST_DIR}/run_command.cmake")

set(args -S "${SOURCE_DIR}/tests/consumer/project" -B "${WORK_DIR}/build" -G "${GENERATOR}"
         -DREDIS_SESSION_CONSUMER_MODE=${MODE})
if(MODE STREQUAL "find_package")
  run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
  list(APPEND args "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
elseif(MODE STREQUAL "fetchcontent")
  # FetchContent clones the committed HEAD of this checkout, or uses the
  # directory itself when it is not one.
  execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse HEAD OUTPUT_VARIABLE tag
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    set(tag "")  # not a checkout (a source tarball): FetchContent takes the directory as it is
  endif()
  list(APPEND args "-DREDIS_SESSION_SOURCE_DIR=${SOURCE_DIR}" "-DREDIS_SESSION_GIT_TAG=${tag}")
else()
  list(APPEND args "-DREDIS_SESSION_SOURCE_DIR=${SOURCE_DIR}")
endif()
run("${CMAKE_COMMAND}" ${args})
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer")
file(REMOVE_RECURSE "${WORK_DIR}")
