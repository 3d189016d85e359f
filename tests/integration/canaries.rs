//! The canary set the tests put under `<prefix>canary/`: benign files of this machine, picked
//! at test time (nothing copied into the repository). From each of a few roots of varied
//! content (programs, shared libraries, package documentation, man pages, the Python standard
//! library, icons, configuration), a sorted walk keeps the regular files of 1 byte to
//! [`MAX_SIZE`], and `per_root` of them evenly spaced along it are taken: the same files on
//! the same machine, run after run, of many types (ELF executables and libraries, shell and
//! Python scripts, gzip-compressed text, plain text, PNG and SVG images, compiled Python).

use std::path::{Path, PathBuf};

/// Where canaries come from: a short tag (the first folder of their key) and a root.
const ROOTS: &[(&str, &str)] = &[
    ("bin", "/usr/bin"),
    ("lib", "/usr/lib/x86_64-linux-gnu"),
    ("doc", "/usr/share/doc"),
    ("man", "/usr/share/man/man1"),
    ("python", "/usr/lib/python3"),
    ("icons", "/usr/share/icons"),
    ("etc", "/etc"),
];

/// The largest canary: a canary set is read in full at every update.
pub const MAX_SIZE: u64 = 256 * 1024;

/// A canary: its key under the canary folder (`<tag>/<path under its root>`) and its bytes.
pub struct Canary {
    pub key: String,
    pub bytes: Vec<u8>,
}

/// `per_root` canaries from each root that exists here (roots missing on this machine are
/// left out; at least three must give some).
pub fn pick(per_root: usize) -> Vec<Canary> {
    let mut canaries = Vec::new();
    let mut roots = 0;
    for (tag, root) in ROOTS {
        let files = candidates(Path::new(root));
        if files.is_empty() {
            continue;
        }
        roots += 1;
        let step = (files.len() / per_root).max(1);
        for path in files.iter().step_by(step).take(per_root) {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            let relative = path.strip_prefix(root).unwrap_or(path);
            canaries.push(Canary {
                key: format!("{tag}/{}", safe(&relative.display().to_string())),
                bytes,
            });
        }
    }
    assert!(roots >= 3, "canaries come from at least 3 of {ROOTS:?}");
    canaries
}

/// The regular files under `root` of 1 byte to [`MAX_SIZE`] that can be read, sorted; symbolic
/// links are not followed.
fn candidates(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| (e.metadata().ok()).is_some_and(|m| (1..=MAX_SIZE).contains(&m.len())))
        .filter(|e| std::fs::File::open(e.path()).is_ok())
        .map(|e| e.into_path())
        .collect()
}

/// `path` with what is not a letter, digit, `.`, `_`, `-` or `/` made `_`, so that a key needs
/// no escaping (`+` is a space in S3 events): the file names, extensions and types stay.
fn safe(path: &str) -> String {
    path.chars()
        .map(|c| match c.is_ascii_alphanumeric() || "._-/".contains(c) {
            true => c,
            false => '_',
        })
        .collect()
}
