// The external variables that public rule sets (signature-base's THOR/LOKI rules) expect, each
// a string. Every compiler of this project defines them, and every scan fills them in for the
// object, or archive member, being scanned. Also included by build.rs.

/// `filename`, `filepath`, `extension`, `filetype` and `owner`, in that order.
pub const EXTERNALS: [&str; 5] = ["filename", "filepath", "extension", "filetype", "owner"];
