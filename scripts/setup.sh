#!/usr/bin/env bash
# Installs everything Forge and its tests need on a fresh Debian machine, skipping
# whatever is already there: the npm dependencies, the compiled CLI (dist/), and from Debian's packages
# caddy (the router), promtool (alert rule checks), git (webhook deploys),
# chromium (dashboard browser test), util-linux's unshare, crun (the OCI runtime
# every build and app runs under), passt's pasta and iproute2 (a network
# namespace per sandbox), e2fsprogs (the per-instance disk limit), skopeo and
# umoci (agents pull and unpack OCI images), buildah (agents build Dockerfiles),
# postgresql (the store's second engine; tests run the store suite against a throwaway
# cluster), and for the image tests docker-registry (a loopback registry), apache2-utils'
# htpasswd (its bcrypt password file) and busybox-static (test images without network).
# Safe to run again. Set FORGE_SETUP_SKIP_SYSTEM=1 to install only npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/tsx ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (better-sqlite3 compiles from source: about 2 minutes)"
  npm ci --no-audit --no-fund
fi

# The compiled CLI bin/forge runs (dist/, gitignored): fast start-up. bin/forge falls
# back to the TypeScript sources when dist/ is missing or older than a source.
bash scripts/build.sh

if [ "${FORGE_SETUP_SKIP_SYSTEM:-0}" = "1" ]; then exit 0; fi

missing=()
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v crun >/dev/null 2>&1 || missing+=(crun)
command -v pasta >/dev/null 2>&1 || missing+=(passt)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# PostgreSQL (the store's second engine): tests start throwaway clusters from its binaries.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ] && ! command -v sudo >/dev/null 2>&1; then
    echo "setup: missing system packages: ${missing[*]}; install them with: apt-get install ${missing[*]}" >&2
    exit 0
  fi
  SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  # Services these packages would start are not wanted: Forge runs caddy itself.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
