#!/usr/bin/env bash
# Installs everything duet needs on a Debian 12 machine. Idempotent: when nothing is missing
# it only checks (a second or two). Usage: tools/setup.sh [--no-python]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian 12 (bookworm) packages. The release pins the versions we build and test against:
# FFmpeg 5.1, nlohmann-json 3.11.2, CLI11 2.1.2, spdlog 1.10, fmt 9.1, GoogleTest 1.12.1,
# SentencePiece 0.1.97 (CMake checks the minimums).
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  python3 python3-venv python3-pip
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
  libsentencepiece-dev
)

log() { printf '[setup] %s\n' "$*"; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "Debian packages present"
fi

# libtorch-heavy objects are large; the default 5 GB cache evicts a single full build.
if command -v ccache >/dev/null && [ "$(ccache -k max_size 2>/dev/null)" != "20.0G" ]; then
  ccache -M 20G >/dev/null 2>&1 || true
fi

[ "${1:-}" = "--no-python" ] && exit 0

# libtorch comes from the pinned torch wheel, installed into a project-local virtual env.
VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
stamp="$VENV/.duet-requirements"
if ! cmp -s tools/requirements.txt "$stamp"; then
  # The wheels unpack to about 4 GB; say so plainly rather than let pip fail half way.
  need_mb=$((4500 - $(du -sm "$VENV" | cut -f1)))
  free_mb=$(df -Pm . | awk 'NR == 2 { print $4 }')
  if [ "${free_mb:-0}" -lt "$need_mb" ]; then
    printf '[setup] error: %s has %s MB free; the Python environment (.venv: torch wheel and CUDA runtime wheels) needs about %s MB more\n' \
      "$PWD" "$free_mb" "$need_mb" >&2
    exit 1
  fi
  log "installing Python requirements (torch wheel, reference libraries)"
  # Downloads go next to the environment, not to a possibly small /tmp.
  export TMPDIR="$PWD/$VENV/.pip-tmp"
  mkdir -p "$TMPDIR"
  # Every package is pinned in the file, so no resolver run (--no-deps); no wheel cache, which
  # would keep a second copy of the 3 GB of CUDA wheels on disk.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --no-deps -r tools/requirements.txt
  rm -rf "$TMPDIR"
  cp tools/requirements.txt "$stamp"
else
  log "Python requirements present"
fi
