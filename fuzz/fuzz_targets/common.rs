//! Shared by the targets whose readers take a path: each input is written to one scratch file.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Writes `bytes` to this process's scratch file (named with `extension`) and returns its path.
pub fn scratch_file(bytes: &[u8], extension: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"));
    let path = dir.path().join(format!("input.{extension}"));
    std::fs::write(&path, bytes).expect("the scratch file is writable");
    path
}
