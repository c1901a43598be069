# Locates the CUTLASS/CuTe headers of the pinned nvidia-cutlass wheel (never committed).
# Order: -DCUTLASS_DIR=<dir with include/cutlass/cutlass.h>, $ENV{CUTLASS_DIR}, third_party/cutlass
# (made by scripts/fetch_cutlass.sh, also what travels to machines with no network), then the
# nvidia-cutlass package of the Python running the build.
set(TA_CUTLASS_VERSION_REQUIRED 4.2.0)

set(_ta_cutlass_hints "")
if(CUTLASS_DIR)
  list(APPEND _ta_cutlass_hints ${CUTLASS_DIR} ${CUTLASS_DIR}/include)
endif()
if(DEFINED ENV{CUTLASS_DIR})
  list(APPEND _ta_cutlass_hints $ENV{CUTLASS_DIR} $ENV{CUTLASS_DIR}/include)
endif()
list(APPEND _ta_cutlass_hints ${PROJECT_SOURCE_DIR}/third_party/cutlass/include)
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  execute_process(
    COMMAND ${Python3_EXECUTABLE} -c
      "import cutlass_library, os; print(os.path.join(os.path.dirname(cutlass_library.__file__), 'source', 'include'))"
    OUTPUT_VARIABLE _ta_wheel_include OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_ta_wheel_include)
    list(APPEND _ta_cutlass_hints ${_ta_wheel_include})
  endif()
endif()

find_path(CUTLASS_INCLUDE_DIR cutlass/cutlass.h HINTS ${_ta_cutlass_hints} NO_DEFAULT_PATH)
if(NOT CUTLASS_INCLUDE_DIR OR NOT EXISTS ${CUTLASS_INCLUDE_DIR}/cute/tensor.hpp)
  message(FATAL_ERROR
    "CUTLASS/CuTe headers not found. Run scripts/fetch_cutlass.sh (unpacks the pinned "
    "nvidia-cutlass==4.2.0.0 wheel into third_party/cutlass), pip install nvidia-cutlass==4.2.0.0, "
    "or pass -DCUTLASS_DIR=<dir containing include/cutlass/cutlass.h>.")
endif()

file(STRINGS ${CUTLASS_INCLUDE_DIR}/cutlass/version.h _ta_cutlass_version_lines
  REGEX "#define CUTLASS_(MAJOR|MINOR|PATCH) ")
foreach(_line IN LISTS _ta_cutlass_version_lines)
  if(_line MATCHES "#define CUTLASS_(MAJOR|MINOR|PATCH) ([0-9]+)")
    set(_ta_cutlass_${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
  endif()
endforeach()
set(CUTLASS_VERSION "${_ta_cutlass_MAJOR}.${_ta_cutlass_MINOR}.${_ta_cutlass_PATCH}")
if(CUTLASS_VERSION VERSION_LESS TA_CUTLASS_VERSION_REQUIRED)
  message(FATAL_ERROR "CUTLASS ${CUTLASS_VERSION} at ${CUTLASS_INCLUDE_DIR} is older than the "
                      "required ${TA_CUTLASS_VERSION_REQUIRED}")
endif()
message(STATUS "CUTLASS ${CUTLASS_VERSION} headers: ${CUTLASS_INCLUDE_DIR}")
