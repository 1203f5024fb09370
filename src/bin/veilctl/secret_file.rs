//! Files that hold secrets (sealed keys, custodians' shares) are written
//! readable by their owner only, whatever the umask: a share left 0644 on a
//! shared host is one passphrase away from the break-glass key.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::Failure;

/// Writes `contents` to `path` with mode 0600 (also when the file existed).
pub fn write(path: &Path, contents: &[u8]) -> Result<(), Failure> {
    let fail =
        |e: std::io::Error| Failure::refused(format!("cannot write {}: {e}", path.display()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    file.write_all(contents).map_err(fail)?;
    file.sync_all().map_err(fail)
}
