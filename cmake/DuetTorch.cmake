# libtorch comes from the pinned `torch` wheel installed by tools/setup.sh into .venv.
# With a CUDA toolkit present we use the wheel's own CMake package (Torch_DIR). Without one
# that package refuses to configure (the wheel is built with CUDA), so we import the CPU
# libraries of the same wheel directly; the resulting binary never needs a GPU library.
set(DUET_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH "Python whose torch provides libtorch")

if(NOT Torch_DIR)
  file(GLOB _torch_dirs "${CMAKE_SOURCE_DIR}/.venv/lib/python3*/site-packages/torch/share/cmake/Torch")
  if(_torch_dirs)
    list(GET _torch_dirs 0 _torch_dir)
  elseif(EXISTS "${DUET_PYTHON}")
    execute_process(COMMAND "${DUET_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
    if(_rc EQUAL 0)
      set(_torch_dir "${_prefix}/Torch")
    endif()
  endif()
  if(NOT _torch_dir)
    message(FATAL_ERROR "duet: libtorch not found. Run tools/setup.sh (installs the torch wheel "
                        "into .venv) or pass -DTorch_DIR=<site-packages>/torch/share/cmake/Torch")
  endif()
  set(Torch_DIR "${_torch_dir}" CACHE PATH "Directory of TorchConfig.cmake")
endif()
get_filename_component(DUET_TORCH_ROOT "${Torch_DIR}/../../.." ABSOLUTE)

add_library(duet_torch INTERFACE)
add_library(duet::torch ALIAS duet_torch)
if(DUET_HAVE_CUDA)
  # Torch's own CUDA detection: only the architectures we build, no autodetection.
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0" CACHE STRING "")
  find_package(Torch REQUIRED CONFIG)
  target_link_libraries(duet_torch INTERFACE ${TORCH_LIBRARIES})
  target_compile_options(duet_torch INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${TORCH_CXX_FLAGS}>)
else()
  find_library(DUET_TORCH_CPU torch_cpu PATHS "${DUET_TORCH_ROOT}/lib" NO_DEFAULT_PATH REQUIRED)
  find_library(DUET_C10 c10 PATHS "${DUET_TORCH_ROOT}/lib" NO_DEFAULT_PATH REQUIRED)
  target_include_directories(duet_torch SYSTEM INTERFACE
      "$<BUILD_INTERFACE:${DUET_TORCH_ROOT}/include>"
      "$<BUILD_INTERFACE:${DUET_TORCH_ROOT}/include/torch/csrc/api/include>")
  target_link_libraries(duet_torch INTERFACE "$<BUILD_INTERFACE:${DUET_TORCH_CPU}>" "$<BUILD_INTERFACE:${DUET_C10}>")
  target_compile_definitions(duet_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
endif()
# The torch wheel's libtorch_cpu.so exports its own (statically linked, newer) copy of
# std::filesystem. Whichever library comes first in the search order wins the symbols, and
# the wheel's copy crashes when called from our code (remove_all jumps to a null pointer).
# Listing libstdc++ before libtorch makes the system copy win for everyone.
target_link_options(duet_torch INTERFACE "LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")
message(STATUS "duet: libtorch from ${DUET_TORCH_ROOT}")
