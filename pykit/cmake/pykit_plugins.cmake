# pykit_add_plugins: build one project's plugins, the same way for pykit's own and for a user's project.
#
#   pykit_add_plugins(NAME <name> PLUGINS_DIR <dir> [HOST_MODULE <module>] [INSTALL_DIR <dir>])
#
# Every <PLUGINS_DIR>/<folder>/spec.toml is a plugin. Always: the host backend, a pybind11 module
# (file <HOST_MODULE>, default _host; import it as <package>._host) from pykit's host/module.cpp and
# the folders' host.cpp. With nvcc (option PYKIT_CUDA): every folder's .cu compiled (object library
# <name>_kernels). With TensorRT headers: the glue compiled (*_plugin.cpp: one body for
# IPluginV2DynamicExt and, with TensorRT >= 10, IPluginV3: common/trt/plugin_glue.h); with libnvinfer too: lib<name>_plugins.so, the
# project's own plugin library (pykit's library.cpp + the glue + the kernels, with this project's
# generated creator list). Built modules and the library land in CMAKE_BINARY_DIR (PYKIT_BUILD_DIR
# loads them from there) and install into INSTALL_DIR (default <name>), the plugin folders into
# INSTALL_DIR/_data/plugins.
# Targets: <name>_generated, the host module (pykit: _host, else <name>_host), <name>_kernels,
# <name>_plugins. Variables set for the caller: PYKIT_INCLUDES, PYKIT_PLUGIN_DIRS, PYKIT_GENERATED_HEADERS.
include_guard(GLOBAL)

option(PYKIT_CUDA "Compile the plugins' CUDA sources when nvcc is found" ON)
set(TENSORRT_ROOT "$ENV{TENSORRT_ROOT}" CACHE PATH "TensorRT install with include/ and lib/ (searched first)")

if(NOT Python_EXECUTABLE OR NOT TARGET Python::Module)
  find_package(Python 3.10 REQUIRED COMPONENTS Interpreter Development.Module)
endif()
if(NOT COMMAND pybind11_add_module)
  find_package(pybind11 CONFIG REQUIRED)
endif()

# CUDA and TensorRT are looked for once, when the package is found (enable_language needs file scope).
if(PYKIT_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
endif()
if(PYKIT_CUDA AND CMAKE_CUDA_COMPILER)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    # Turing .. Hopper machine code, plus compute_90 PTX for anything newer.
    set(CMAKE_CUDA_ARCHITECTURES 75-real 80-real 86-real 89-real 90)
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  message(STATUS "pykit: CUDA ${CMAKE_CUDA_COMPILER_VERSION}, kernels for ${CMAKE_CUDA_ARCHITECTURES}")
else()
  message(STATUS "pykit: no nvcc, CUDA kernels not compiled")
endif()
find_path(TENSORRT_INCLUDE_DIR NvInfer.h PATHS ${TENSORRT_ROOT}/include NO_DEFAULT_PATH)
find_path(TENSORRT_INCLUDE_DIR NvInfer.h PATHS /usr/local/tensorrt/include /opt/tensorrt/include /usr/include/x86_64-linux-gnu)
find_library(TENSORRT_NVINFER nvinfer PATHS ${TENSORRT_ROOT}/lib ${TENSORRT_ROOT}/lib64 NO_DEFAULT_PATH)
find_library(TENSORRT_NVINFER nvinfer PATHS /usr/local/tensorrt/lib /opt/tensorrt/lib /usr/lib/x86_64-linux-gnu)
if(TENSORRT_INCLUDE_DIR)
  # TensorRT's major version decides which creators the library registers (IPluginV3 from 10 on).
  file(STRINGS ${TENSORRT_INCLUDE_DIR}/NvInferVersion.h _pykit_trt_lines
       REGEX "#define (NV_TENSORRT_MAJOR|TRT_MAJOR_ENTERPRISE) +[0-9]+")
  string(REGEX MATCH "[0-9]+" PYKIT_TRT_MAJOR "${_pykit_trt_lines}")
  message(STATUS "pykit: TensorRT headers ${TENSORRT_INCLUDE_DIR} (major version ${PYKIT_TRT_MAJOR})")
else()
  message(STATUS "pykit: no TensorRT (set TENSORRT_ROOT): plugin library not built")
endif()

function(pykit_add_plugins)
  cmake_parse_arguments(ARG "" "NAME;PLUGINS_DIR;HOST_MODULE;INSTALL_DIR" "" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "pykit_add_plugins: unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_NAME OR NOT ARG_PLUGINS_DIR)
    message(FATAL_ERROR "pykit_add_plugins: NAME and PLUGINS_DIR are required")
  endif()
  if(NOT ARG_NAME MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "pykit_add_plugins: NAME '${ARG_NAME}' must be an identifier (it names targets and lib${ARG_NAME}_plugins.so)")
  endif()
  if(NOT ARG_HOST_MODULE)
    set(ARG_HOST_MODULE _host)
  endif()
  if(NOT ARG_INSTALL_DIR)
    set(ARG_INSTALL_DIR ${ARG_NAME})
  endif()
  get_filename_component(plugins_dir "${ARG_PLUGINS_DIR}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  set(name ${ARG_NAME})
  set(generated ${CMAKE_CURRENT_BINARY_DIR}/${name}_generated)

  # ---- plugin folders: every <plugins_dir>/*/spec.toml (`pykit new` makes one; nothing else needs an edit)
  file(GLOB specs CONFIGURE_DEPENDS ${plugins_dir}/*/spec.toml)
  set(headers "")
  set(dirs "")
  set(host_sources "")
  set(cuda_sources "")
  set(glue_sources "")
  set(creator_items "")
  foreach(spec IN LISTS specs)
    get_filename_component(dir ${spec} DIRECTORY)
    get_filename_component(id ${dir} NAME)
    set(header ${generated}/${id}_attrs.h)
    add_custom_command(
      OUTPUT ${header}
      COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${PYKIT_PYTHONPATH} ${Python_EXECUTABLE} -m pykit.codegen ${spec} ${header}
      DEPENDS ${spec} ${PYKIT_PACKAGE_DIR}/codegen.py ${PYKIT_PACKAGE_DIR}/spec.py
      COMMENT "pykit: ${id} attributes and IO table from its spec")
    list(APPEND headers ${header})
    list(APPEND dirs ${dir})
    file(GLOB host CONFIGURE_DEPENDS ${dir}/host.cpp)
    file(GLOB cuda CONFIGURE_DEPENDS ${dir}/*.cu)
    file(GLOB glue CONFIGURE_DEPENDS ${dir}/*_plugin.cpp)
    list(APPEND host_sources ${host})
    list(APPEND cuda_sources ${cuda})
    list(APPEND glue_sources ${glue})
    if(glue)
      string(APPEND creator_items " X(${id})")
    endif()
  endforeach()
  if(NOT specs)
    message(STATUS "pykit ${name}: no plugin folders (no ${plugins_dir}/*/spec.toml yet: add one with `pykit new`)")
  else()
    message(STATUS "pykit ${name}: plugins ${dirs}")
  endif()
  add_custom_target(${name}_generated DEPENDS ${headers})
  # This project's registration list, from its plugin folders (plugins/common/trt/library.cpp includes it).
  file(CONFIGURE OUTPUT ${generated}/creator_list.h CONTENT
"// Generated by pykit_add_plugins (${name}) from the plugin folders. Do not edit.
#pragma once
#include <NvInfer.h>
namespace pykit { namespace trt {
// Every plugin folder with glue: its V2 creator always, its IPluginV3 creator against TensorRT >= 10.
#define PYKIT_FOR_EACH_CREATOR(X)${creator_items}
#define PYKIT_DECLARE_CREATOR(id) nvinfer1::IPluginCreator& id##_creator();
PYKIT_FOR_EACH_CREATOR(PYKIT_DECLARE_CREATOR)
#if NV_TENSORRT_MAJOR >= 10
#define PYKIT_DECLARE_CREATOR_V3(id) nvinfer1::IPluginCreatorV3One& id##_creator_v3();
PYKIT_FOR_EACH_CREATOR(PYKIT_DECLARE_CREATOR_V3)
#endif
} }
")
  set(includes ${PYKIT_KIT_PLUGINS_DIR} ${generated} ${dirs})
  set(cxx_properties CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_VISIBILITY_PRESET hidden POSITION_INDEPENDENT_CODE ON)

  # ---- host backend: <install dir>/<HOST_MODULE>, named by PYKIT_HOST_MODULE_NAME for PYBIND11_MODULE
  if(name STREQUAL "pykit")
    set(host_target ${ARG_HOST_MODULE})
  else()
    set(host_target ${name}_host)
  endif()
  pybind11_add_module(${host_target} MODULE ${PYKIT_HOST_DIR}/module.cpp ${host_sources} ${headers})
  set_target_properties(${host_target} PROPERTIES OUTPUT_NAME ${ARG_HOST_MODULE}
                        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR} ${cxx_properties})
  target_compile_definitions(${host_target} PRIVATE PYKIT_HOST_MODULE_NAME=${ARG_HOST_MODULE})
  target_include_directories(${host_target} PRIVATE ${includes} ${PYKIT_HOST_DIR})
  target_compile_options(${host_target} PRIVATE $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Werror=return-type>)
  install(TARGETS ${host_target} LIBRARY DESTINATION ${ARG_INSTALL_DIR})

  # ---- CUDA kernels
  if(PYKIT_CUDA AND CMAKE_CUDA_COMPILER AND cuda_sources)
    add_library(${name}_kernels OBJECT ${cuda_sources} ${headers})
    set_target_properties(${name}_kernels PROPERTIES ${cxx_properties} CUDA_STANDARD 17 CUDA_VISIBILITY_PRESET hidden)
    target_include_directories(${name}_kernels PRIVATE ${includes})
    target_compile_options(${name}_kernels PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings -Xcompiler=-fvisibility=hidden>)
  endif()

  # ---- TensorRT glue and this project's plugin library
  if(TENSORRT_INCLUDE_DIR AND TARGET ${name}_kernels)
    set(glue_all ${glue_sources} ${PYKIT_KIT_PLUGINS_DIR}/common/trt/library.cpp)
    if(PYKIT_TRT_MAJOR GREATER_EQUAL 10)
      message(STATUS "pykit ${name}: glue with IPluginV3 creators (TensorRT ${PYKIT_TRT_MAJOR}; V2 ones built, not registered)")
    else()
      message(STATUS "pykit ${name}: glue with IPluginV2DynamicExt creators (TensorRT ${PYKIT_TRT_MAJOR}; IPluginV3 needs >= 10)")
    endif()
    if(TENSORRT_NVINFER)
      add_library(${name}_plugins SHARED ${glue_all} $<TARGET_OBJECTS:${name}_kernels> ${headers})
      target_link_libraries(${name}_plugins PRIVATE ${TENSORRT_NVINFER} CUDA::cudart_static)
      # Several projects' libraries share one process (loaded RTLD_GLOBAL, all exporting the same C API):
      # each must call its own functions, not the first library's.
      target_link_options(${name}_plugins PRIVATE -Wl,-Bsymbolic)
      set_target_properties(${name}_plugins PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
      install(TARGETS ${name}_plugins LIBRARY DESTINATION ${ARG_INSTALL_DIR})
      message(STATUS "pykit ${name}: building lib${name}_plugins.so against ${TENSORRT_NVINFER}")
    else()
      add_library(${name}_plugins OBJECT ${glue_all} ${headers})  # compile check only
      message(STATUS "pykit ${name}: TensorRT headers without libnvinfer: compile check of the glue only")
    endif()
    set_target_properties(${name}_plugins PROPERTIES ${cxx_properties})
    target_include_directories(${name}_plugins PRIVATE ${includes} ${PYKIT_KIT_PLUGINS_DIR}/common/trt)
    target_include_directories(${name}_plugins SYSTEM PRIVATE ${TENSORRT_INCLUDE_DIR} ${CUDAToolkit_INCLUDE_DIRS})
    target_compile_options(${name}_plugins PRIVATE -Wall -Wextra -Werror=return-type -Wno-deprecated-declarations)
  elseif(TENSORRT_INCLUDE_DIR)
    message(STATUS "pykit ${name}: TensorRT headers found but no CUDA kernels (nvcc): glue not compiled")
  endif()

  # The plugin folders travel with the package: specs, references, rules and sources (pykit finds an
  # installed project's plugins in <package>/_data/plugins).
  # (Not for an editable install: pykit reads its source tree's plugins/ then.)
  if(NOT SKBUILD_STATE STREQUAL "editable")
    install(DIRECTORY ${plugins_dir}/ DESTINATION ${ARG_INSTALL_DIR}/_data/plugins
            PATTERN __pycache__ EXCLUDE PATTERN "*.pyc" EXCLUDE)
  endif()

  set(PYKIT_INCLUDES ${includes} PARENT_SCOPE)
  set(PYKIT_PLUGIN_DIRS ${dirs} PARENT_SCOPE)
  set(PYKIT_GENERATED_HEADERS ${headers} PARENT_SCOPE)
endfunction()
