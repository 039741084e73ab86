#!/usr/bin/env bash
# The desktop app's .deb: a release build, stripped of its line tables (306 MB → 78 MB), then
# bundled by tauri-cli (installed from crates.io when missing) with the desktop entry that
# registers scry:// links. Needs the packages scripts/test.sh installs.
#   desktop/packaging/deb.sh      → target/release/bundle/deb/Scry_<version>_amd64.deb
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-tauri >/dev/null || cargo install tauri-cli --version '=2.12.4' --locked
cargo tauri build --no-bundle
strip ../target/release/scry-desktop
cargo tauri bundle --bundles deb
