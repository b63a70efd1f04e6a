# CMake package of pykit: find_package(pykit CONFIG REQUIRED), then pykit_add_plugins(...).
# `pykit --cmake-dir` (or `python -m pykit --cmake-dir`) prints this folder, as pybind11 does.
# It works from a wheel install (the kit's files under pykit/_data) and from a source checkout
# (an editable install, or pykit's own CMakeLists: plugins/ and templates/ at the repository top).
get_filename_component(PYKIT_PACKAGE_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
get_filename_component(PYKIT_PYTHONPATH "${PYKIT_PACKAGE_DIR}/.." ABSOLUTE)  # where `import pykit` works
if(EXISTS "${PYKIT_PACKAGE_DIR}/_data/plugins/common")
  set(PYKIT_KIT_PLUGINS_DIR "${PYKIT_PACKAGE_DIR}/_data/plugins")   # installed wheel
else()
  set(PYKIT_KIT_PLUGINS_DIR "${PYKIT_PYTHONPATH}/plugins")          # source checkout
endif()
if(NOT EXISTS "${PYKIT_KIT_PLUGINS_DIR}/common/trt/library.cpp")
  message(FATAL_ERROR "pykit: no plugins/common at ${PYKIT_KIT_PLUGINS_DIR}: this pykit install is incomplete")
endif()
set(PYKIT_HOST_DIR "${PYKIT_PACKAGE_DIR}/host")
include("${CMAKE_CURRENT_LIST_DIR}/pykit_plugins.cmake")
set(pykit_FOUND TRUE)
