//! Compiling users' YARA sources (and feeds) with the externals the scanners define, and
//! whether their `include` directives may read the compiling machine's files.

use crate::config::RuleSource;
use crate::scan::EXTERNALS;

/// Whether `include` directives of the sources compiled may read files of the machine that
/// compiles them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Includes {
    /// The user's own local files: an `include` names another of them.
    Allowed,
    /// Sources read from S3 or a feed, which whoever can write there chose: an `include` of
    /// `/proc/self/environ` would have the function's secrets quoted in a logged error.
    Refused,
}

impl Includes {
    /// What the sources of `source` may include.
    pub(super) fn of(source: &RuleSource) -> Includes {
        match source {
            RuleSource::Local(_) => Includes::Allowed,
            RuleSource::S3 { .. } => Includes::Refused,
        }
    }
}

/// Compiles YARA sources read from S3 or a feed (no `include`), the externals public sets
/// expect defined; every error, each with its file and line, when they do not compile.
pub fn compile(files: &[(String, Vec<u8>)]) -> Result<yara_x::Rules, String> {
    compile_with(files, Includes::Refused)
}

/// [`compile`], with `include` directives as `includes` says.
pub fn compile_with(
    files: &[(String, Vec<u8>)],
    includes: Includes,
) -> Result<yara_x::Rules, String> {
    compile_with_warnings(files, includes).map(|(rules, _)| rules)
}

/// [`compile_with`], with yara-x's warnings (each with its file and line).
pub fn compile_with_warnings(
    files: &[(String, Vec<u8>)],
    includes: Includes,
) -> Result<(yara_x::Rules, Vec<String>), String> {
    let mut compiler = yara_x::Compiler::new();
    compiler.enable_includes(includes == Includes::Allowed);
    for name in EXTERNALS {
        compiler
            .define_global(name, "")
            .map_err(|e| format!("defining the external `{name}`: {e}"))?;
    }
    let mut errors = Vec::new();
    for (name, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        let code = yara_x::SourceCode::from(text.as_ref()).with_origin(name.as_str());
        if let Err(e) = compiler.add_source(code) {
            errors.push(e.to_string());
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let warnings = compiler.warnings().iter().map(|w| w.to_string()).collect();
    Ok((compiler.build(), warnings))
}
