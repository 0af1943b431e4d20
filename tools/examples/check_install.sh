#!/usr/bin/env bash
# Installs duet from a build folder into a scratch prefix, builds tools/examples against the
# installed package (find_package(duet)) and runs it with the installed duet-tiny.
#   tools/examples/check_install.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$1
work=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
torch_cmake=$("$root/.venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
launcher=()
if command -v ccache > /dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$root/tools/examples" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  "${launcher[@]}" -DCMAKE_PREFIX_PATH="$work/prefix;$torch_cmake" > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log"
# The installed data (presets, duet-tiny) is found next to the installed binary or through
# these variables; an application lives elsewhere, so it names them.
export DUET_CONFIG_DIR="$work/prefix/share/duet/configs"
export DUET_MODELS_DIR="$work/prefix/share/duet/models"
"$work/build/duet_example" "a red ball bounces on a gray floor" "$work/clip.mp4" "" 2
test -s "$work/clip.mp4"
# The prefix holds a full copy of the static libraries (hundreds of MB with debug info); keep
# it only when something failed, for inspection.
rm -rf "$work/prefix" "$work/build"
echo "install check passed: $work/clip.mp4"
