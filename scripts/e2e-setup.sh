#!/usr/bin/env bash
# Installs what the end-to-end tests need: Debian packages (chromium, ripgrep, native build deps)
# and code-server 4.100.3 (VS Code 1.100.3 for the browser) into <repo>/.e2e/code-server.
# Idempotent: a marker file makes a second run a no-op (about a second).
# See /work/shared/ENVIRONMENT.md, "A real VS Code for end-to-end tests".
set -euo pipefail

CODE_SERVER_VERSION="4.100.3"
# g++, make and python3 build better-sqlite3 when its prebuilt binary cannot be downloaded (offline);
# python3-numpy and python3-scipy let test/engine/driftScipy.test.ts compare the drift statistics with scipy.
APT_PACKAGES=(libkrb5-dev libxkbfile-dev libsecret-1-dev libx11-dev pkg-config ripgrep chromium g++ make python3 python3-numpy python3-scipy)

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
E2E_DIR="$REPO_DIR/.e2e"
CS_DIR="$E2E_DIR/code-server"
CS_PKG="$CS_DIR/node_modules/code-server"
VSCODE_DIR="$CS_PKG/lib/vscode"
MARKER="$CS_DIR/.setup-complete"
MARKER_CONTENT="code-server@$CODE_SERVER_VERSION node=$(node -p 'process.versions.modules')"

log() { printf '[e2e-setup] %s\n' "$*"; }
t0=$SECONDS

# npm must not pick up the repository's .npmrc / package.json: every npm command below runs in a
# folder with its own package.json. Keep npm quiet and offline-friendly.
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export npm_config_loglevel="${npm_config_loglevel:-warn}"
# Native modules are compiled with node-gyp against the installed Node's headers (nodejs.org, where
# node-gyp would download them from, is not reachable).
NODE_PREFIX="$(node -p "require('path').resolve(process.execPath, '..', '..')")"
if [[ -z "${npm_config_nodedir:-}" && -f "$NODE_PREFIX/include/node/common.gypi" ]]; then
  export npm_config_nodedir="$NODE_PREFIX"
fi

# 1. Debian packages ---------------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg -s "$p" >/dev/null 2>&1 || ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  log "Debian packages present: ${APT_PACKAGES[*]}"
fi

# 2. Already done? -----------------------------------------------------------------------------
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$MARKER_CONTENT" && -x "$CS_DIR/node_modules/.bin/code-server" ]]; then
  log "code-server $CODE_SERVER_VERSION already set up in $CS_DIR (marker present) - nothing to do"
  exit 0
fi
rm -f "$MARKER"

# 3. code-server from the npm registry, scripts ignored ---------------------------------------
mkdir -p "$CS_DIR"
if [[ ! -f "$CS_DIR/package.json" ]]; then
  printf '{\n  "name": "cairn-e2e-code-server",\n  "private": true\n}\n' >"$CS_DIR/package.json"
fi
installed_version=""
if [[ -f "$CS_PKG/package.json" ]]; then
  installed_version="$(node -p "require('$CS_PKG/package.json').version")"
fi
if [[ "$installed_version" != "$CODE_SERVER_VERSION" ]]; then
  log "npm install --ignore-scripts code-server@$CODE_SERVER_VERSION (about 180 MB)"
  (cd "$CS_DIR" && npm install --ignore-scripts --no-save --save-exact "code-server@$CODE_SERVER_VERSION")
else
  log "code-server $CODE_SERVER_VERSION package already installed"
fi

# 4. VS Code's own dependencies (ENVIRONMENT.md step 3) ---------------------------------------
log "lib/vscode: npm install --omit=dev --ignore-scripts"
(cd "$VSCODE_DIR" && npm install --omit=dev --ignore-scripts)

log "lib/vscode: providing ripgrep from $(command -v rg)"
mkdir -p "$VSCODE_DIR/node_modules/@vscode/ripgrep/bin"
cp -f "$(command -v rg)" "$VSCODE_DIR/node_modules/@vscode/ripgrep/bin/rg"
chmod +x "$VSCODE_DIR/node_modules/@vscode/ripgrep/bin/rg"

log "lib/vscode: npm rebuild (native modules; takes a while)"
(cd "$VSCODE_DIR" && npm_config_yes=true npm rebuild)

# 5. Symlinks and built-in extensions' dependencies (step 4) ----------------------------------
log "lib/vscode: symlinks (node_modules.asar, remote-cli/code-server, helpers/browser.sh)"
ln -sfn node_modules "$VSCODE_DIR/node_modules.asar"
ln -sfn code-linux.sh "$VSCODE_DIR/bin/remote-cli/code-server"
ln -sfn browser-linux.sh "$VSCODE_DIR/bin/helpers/browser.sh"

log "lib/vscode/extensions: npm install --omit=dev"
(cd "$VSCODE_DIR/extensions" && npm install --omit=dev)

# 6. argon2 in the outer folder (step 5) --------------------------------------------------------
log "npm rebuild argon2"
(cd "$CS_DIR" && npm rebuild argon2)

# 7. Smoke check and marker ----------------------------------------------------------------------
# (private XDG dirs so the check does not write ~/.config/code-server/config.yaml)
version_line="$(XDG_CONFIG_HOME="$E2E_DIR/xdg/config" XDG_DATA_HOME="$E2E_DIR/xdg/data" \
  "$CS_DIR/node_modules/.bin/code-server" --version 2>/dev/null | tail -n 1)"
log "code-server --version: $version_line"
printf '%s' "$MARKER_CONTENT" >"$MARKER"
log "done in $((SECONDS - t0)) s; code-server at $CS_DIR/node_modules/.bin/code-server"
