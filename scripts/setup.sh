#!/usr/bin/env bash
# Installs what is missing (Debian packages, npm packages) and builds the BPF objects and the CLI.
# Idempotent: run it as often as you like.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "xdpkit setup: run as root (apt-get and the kernel tests need it): sudo $0" >&2
  exit 1
fi

packages=(clang-19 llvm-19 libbpf-dev libbpf1 bpftool iproute2 ethtool xdp-tools tcpdump
  nftables iptables ipset iputils-ping netcat-openbsd linux-libc-dev gcc make util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "xdpkit setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
