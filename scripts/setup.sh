#!/usr/bin/env bash
# Prepares this machine for Neural Texture Studio: a Vulkan driver (software lavapipe from Mesa when
# no GPU driver is installed), Xvfb for the GUI tests, and a Python virtual environment in .venv.
# Safe to run again: every step checks first and does nothing when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_xvfb="${1:-}"   # "--with-xvfb": the test command needs a virtual display

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "setup: need root to run: $*" >&2; return 1; fi; }

mesa_ok() {
  # slangpy needs Mesa >= 24 for lavapipe (Debian 12's Mesa 22 lacks VK_KHR_shader_non_semantic_info).
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 24
}
gpu_icd_present() { ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; }

if command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; then
  pkgs=()
  dpkg-query -W -f='${Status}' libvulkan1 2>/dev/null | grep -q "ok installed" || pkgs+=(libvulkan1)
  if [ "$want_xvfb" = "--with-xvfb" ]; then
    command -v Xvfb >/dev/null || pkgs+=(xvfb xauth)
    dpkg-query -W -f='${Status}' libgl1 2>/dev/null | grep -q "ok installed" || pkgs+=(libgl1 libegl1)
  fi
  need_mesa=0
  if ! gpu_icd_present && ! mesa_ok; then need_mesa=1; fi
  if [ ${#pkgs[@]} -gt 0 ] || [ $need_mesa = 1 ]; then
    . /etc/os-release
    if [ $need_mesa = 1 ] && [ "${VERSION_CODENAME:-}" = bookworm ] && \
       [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ]; then
      echo "setup: adding bookworm-backports for Mesa 25 (software Vulkan)"
      as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    echo "setup: installing system packages: ${pkgs[*]} $( [ $need_mesa = 1 ] && echo mesa-vulkan-drivers)"
    as_root apt-get update -qq
    [ ${#pkgs[@]} -gt 0 ] && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
    if [ $need_mesa = 1 ]; then
      if [ "${VERSION_CODENAME:-}" = bookworm ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libgl1-mesa-dri
      else
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers
      fi
    fi
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi
