#!/usr/bin/env bash
# Unpacks the Debian packages that tools/gpu's build needs into tools/gpu/deps/ (git-ignored), so
# a lent GPU machine, which has no network and none of these libraries, can build the GPU checks.
#
# Run it on the development machine (Debian, apt reaches the mirror), from anywhere:
#   tools/gpu/prepare_deps.sh
# Then copy the working tree with tools/gpu/deps to the GPU machine and run
# tools/gpu/run_gpu_checks.sh there (see its header).
#
# What lands in tools/gpu/deps/usr (the prefix given to CMake as DUET_DEPS_PREFIX):
#   include/{fmt,spdlog,nlohmann,gtest,gmock}        headers
#   lib/x86_64-linux-gnu/{libfmt,libspdlog}.so*      runtime + link libraries (prebuilt mode)
#   lib/x86_64-linux-gnu/lib{gtest,gmock}*.a         GoogleTest static libraries (prebuilt mode)
#   lib/x86_64-linux-gnu/cmake/..., share/cmake/...  the packages' CMake config files
#   src/googletest                                   GoogleTest's sources (headers-only mode, for
#                                                    a machine whose libstdc++/glibc is older
#                                                    than Debian 12's, see run_gpu_checks.sh)
# The versions are pinned to the ones installed here (dpkg-query), so the GPU build compiles
# against exactly the headers the main build uses. Debian's CMake config files locate their
# prefix from their own path (they only fall back to /usr when loaded through a /lib -> /usr/lib
# link), so the unpacked tree is relocatable as is; the script checks that no config file names
# an absolute /usr path that would escape the prefix.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/deps"
limit_mib=60

# Package -> installed version. The library packages carry the SONAME in their name, so they are
# looked up from the -dev package's dependencies instead of hard-coded where that is easy.
packages=(libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 nlohmann-json3-dev libgtest-dev libgmock-dev googletest)

pins=()
for p in "${packages[@]}"; do
  v="$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)"
  if [[ -z "$v" ]]; then
    echo "prepare_deps: $p is not installed here; install it (tools/setup.sh) so its version can be pinned" >&2
    exit 1
  fi
  pins+=("$p=$v")
done

work="$(mktemp -d)"
chmod 755 "$work"  # apt's _apt user writes the download when it can (no "unsandboxed" warning)
trap 'rm -rf "$work"' EXIT
echo "prepare_deps: downloading ${pins[*]}"
(cd "$work" && apt-get download "${pins[@]}") || {
  echo "prepare_deps: apt-get download failed (run 'apt-get update' if the lists are stale)" >&2
  exit 1
}

rm -rf "$dest"
mkdir -p "$dest"
for deb in "$work"/*.deb; do
  dpkg -x "$deb" "$dest"
  echo "  unpacked $(basename "$deb")"
done

# Nothing the build needs lives in the documentation, and googletest's own docs are large.
rm -rf "$dest/usr/share/doc" "$dest/usr/share/lintian" "$dest/usr/share/man"
rm -rf "$dest/usr/src/googletest/googletest/docs" "$dest/usr/src/googletest/googlemock/docs" \
       "$dest/usr/src/googletest/docs" "$dest/usr/src/gtest/docs"
# A manifest of what was unpacked (versions), for the report on the other side.
printf '%s\n' "${pins[@]}" > "$dest/MANIFEST"

# Symbolic links may not survive the trip to the device machine (its copy tool only promises
# plain files), so every link becomes a copy of what it points to: libfoo.so -> libfoo.so.N ->
# libfoo.so.N.M are small, and the only folder link (src/gtest -> googletest/googletest) is
# not needed (the build uses src/googletest).
rm -f "$dest/usr/src/gtest"
while IFS= read -r -d '' link; do
  target="$(readlink -f "$link")"
  if [[ ! -f "$target" || "$target" != "$dest"/* ]]; then
    echo "prepare_deps: $link points outside the prefix or to a non-file ($target)" >&2
    exit 1
  fi
  cp --remove-destination "$target" "$link"
done < <(find "$dest" -type l -print0)

# Absolute /usr paths in CMake config files would make the prefix resolve back to this
# machine's /usr. The only accepted ones are Debian's "/usr move" guard (a REALPATH compare of
# the original install folder, which never matches a relocated copy).
leaks="$(grep -rn '"/usr' "$dest" --include='*.cmake' | grep -v ':[0-9]*: *#' | grep -v '_realOrig "/usr/lib/x86_64-linux-gnu/cmake/' \
         | grep -v 'set(PACKAGE_PREFIX_DIR "/usr")' | grep -v 'set(_IMPORT_PREFIX "/usr/lib/x86_64-linux-gnu/cmake/' || true)"
if [[ -n "$leaks" ]]; then
  echo "prepare_deps: CMake config files with absolute paths, fix them before shipping:" >&2
  echo "$leaks" >&2
  exit 1
fi

size_kib="$(du -sk "$dest" | cut -f1)"
size_mib=$(( (size_kib + 1023) / 1024 ))
echo "prepare_deps: $dest holds ${size_kib} KiB (~${size_mib} MiB, limit ${limit_mib} MiB)"
if (( size_kib > limit_mib * 1024 )); then
  echo "prepare_deps: too large to travel with the working tree (64 MiB in all)" >&2
  exit 1
fi
echo "prepare_deps: done. Carry it with  carry: [\"tools/gpu/deps\"]"
