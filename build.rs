//! Names the commit the binary is built from, for `oci-audit --version`: the short hash
//! of HEAD in a git checkout, `unknown` elsewhere (a crate package, a tarball).

use std::path::PathBuf;
use std::process::Command;

/// What `git ARGS` prints, trimmed, when it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=OCI_AUDIT_COMMIT={commit}");
    // A new commit moves HEAD (in this worktree's git directory) or the branch it names
    // (in the repository's common one).
    let git_dir = git(&["rev-parse", "--git-dir"]).map(PathBuf::from);
    let common = git(&["rev-parse", "--git-common-dir"]).map(PathBuf::from);
    let watched = [
        git_dir.as_ref().map(|dir| dir.join("HEAD")),
        common.as_ref().map(|dir| dir.join("refs/heads")),
        common.as_ref().map(|dir| dir.join("packed-refs")),
    ];
    for path in watched.into_iter().flatten().filter(|path| path.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
