#!/usr/bin/env bash
# Checks what the test suite needs and installs what is missing when it can.
#
#   Go 1.26 or newer                      (checked, never installed)
#   a C compiler, for go test -race       (apt package gcc, with libc6-dev)
#   redis-cli and redis-benchmark         (apt package redis-tools)
#   redis-server                          (apt package redis-server)
#   openssl, for the TLS interop test     (apt package openssl)
#
# On Debian or Ubuntu it runs apt-get as root, or through sudo when sudo needs
# no password. Anywhere else, or without those rights, it prints exactly what
# to install and exits 1. Exit 0 means everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'prereqs: %s\n' "$@" >&2; exit 1; }

# Go: the module says go 1.26.0; an older go either refuses the module or, with
# GOTOOLCHAIN=auto, downloads a newer toolchain, so ask the go that will run.
command -v go >/dev/null 2>&1 ||
  die "go not found in PATH. Install Go 1.26 or newer (https://go.dev/dl/) and add its bin" \
      "directory to PATH, e.g. export PATH=\$PATH:/usr/local/go/bin"
gov=$(go env GOVERSION 2>&1) || die "go env failed: $gov" "Go 1.26 or newer is required."
case "$gov" in
  go1.*)
    minor=${gov#go1.}; minor=${minor%%[!0-9]*}
    [ "${minor:-0}" -ge 26 ] ||
      die "Go 1.26 or newer is required; this go is $gov ($(command -v go))." \
          "Install it from https://go.dev/dl/ (or set GOTOOLCHAIN=go1.26.0 to let go fetch it)."
    ;;
  devel*) ;; # a development toolchain: assume it is new enough
  *) die "cannot tell the Go version from '$gov'; Go 1.26 or newer is required." ;;
esac

# What is missing, as apt packages.
pkgs=()
cc=$(go env CC); cc=${cc%% *}
command -v "${cc:-gcc}" >/dev/null 2>&1 || pkgs+=(gcc libc6-dev)
command -v redis-cli >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1 || pkgs+=(redis-tools)
command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)

if [ ${#pkgs[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else sudo=(none); fi
  fi
  if ! command -v apt-get >/dev/null 2>&1 || [ "${sudo[*]}" = none ]; then
    {
      echo "prereqs: the tests need these, and this script cannot install them here:"
      command -v "${cc:-gcc}" >/dev/null 2>&1 || echo "  - a C compiler ($cc) for go test -race: Debian/Ubuntu gcc libc6-dev, Fedora gcc glibc-devel, macOS xcode-select --install"
      command -v redis-cli >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1 ||
        echo "  - redis-cli and redis-benchmark: Debian/Ubuntu redis-tools, Fedora redis, macOS brew install redis"
      command -v redis-server >/dev/null 2>&1 || echo "  - redis-server: Debian/Ubuntu redis-server, Fedora redis, macOS brew install redis"
      command -v openssl >/dev/null 2>&1 || echo "  - openssl: Debian/Ubuntu and Fedora openssl, macOS brew install openssl"
      if command -v apt-get >/dev/null 2>&1; then
        echo "Run:  sudo apt-get install -y --no-install-recommends ${pkgs[*]}"
      fi
      echo "then run this command again."
    } >&2
    exit 1
  fi
  [ "${sudo[*]}" = "" ] && sudo=()
  echo "prereqs: installing ${pkgs[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  for c in "${cc:-gcc}" redis-cli redis-benchmark redis-server openssl; do
    command -v "$c" >/dev/null 2>&1 || die "apt-get installed ${pkgs[*]}, yet $c is still not in PATH ($PATH)."
  done
fi

# The race detector needs cgo; go turns it off by default when it finds no C
# compiler, and a CGO_ENABLED=0 in the environment turns it off too.
[ "$(go env CGO_ENABLED)" = 1 ] ||
  die "go test -race needs cgo, but go env CGO_ENABLED is $(go env CGO_ENABLED)." \
      "Unset CGO_ENABLED (or set CGO_ENABLED=1; go env -u CGO_ENABLED if set with go env -w)."
exit 0
