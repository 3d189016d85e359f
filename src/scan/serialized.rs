//! Files of compiled rules: what yara-x's `Rules::serialize` writes (`YARA-X\0\0`, its format
//! version, then bincode), preceded in the files this tool writes by a short text header (the
//! yara-x version and target that wrote them and, in the compiled cache, the MAC that
//! authenticates them). And what such a file holds (its rules, whether it carries native code
//! and for which target) read without ever loading its native code, for `rules check`.

use std::fmt;

use sha2::{Digest, Sha256};

/// The platform this binary serializes native code for (`build.rs` sets it): native code only
/// loads where it was made.
pub const TARGET: &str = env!("S3_YARA_SCAN_TARGET");

/// What yara-x's serialized rules start with.
const MAGIC: &[u8] = b"YARA-X\0\0";
/// The magic and the format version that follows it.
const PREAMBLE: usize = MAGIC.len() + 4;
/// The first line of the header this tool writes; `head -4 FILE.yarc` shows the header.
const HEADER_START: &[u8] = b"s3-yara-scan compiled rules\n";
/// A header ends within this many bytes, or it is no header.
const HEADER_MAX: usize = 1024;
/// The ELF section of a wasmtime artifact that says which wasmtime and target made it.
const WASMTIME_ENGINE_SECTION: &str = ".wasmtime.engine";

/// Why bytes are not compiled rules this yara-x can load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Neither yara-x's magic nor this tool's header.
    #[error(
        "it is not compiled YARA-X rules: it starts with neither `YARA-X` nor `s3-yara-scan compiled rules`"
    )]
    NotRules,
    /// This tool's header, malformed.
    #[error("its s3-yara-scan header is malformed: {0}")]
    Header(String),
    /// Serialized in a format this yara-x does not read.
    #[error(
        "it is in YARA-X serialization format {found}{by}; yara-x {} reads format {expected}: rebuild it with `s3-yara-scan rules build`",
        yara_x::VERSION
    )]
    Format {
        /// The file's format version.
        found: u32,
        /// The one this yara-x reads.
        expected: u32,
        /// `, written by yara-x X` when the header says so.
        by: String,
    },
    /// The serialized content does not decode.
    #[error("its content does not decode: {0}")]
    Content(String),
    /// yara-x refuses it.
    #[error("it does not load in yara-x {version}: {0}", version = yara_x::VERSION)]
    Load(String),
}

/// The header this tool writes before yara-x's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The yara-x version that serialized the rules.
    pub yara_x: String,
    /// The platform of the binary that serialized them.
    pub target: Option<String>,
    /// The MAC of the compiled cache (hex), which authenticates it.
    pub mac: Option<String>,
}

impl Header {
    /// The header of rules serialized by this binary.
    pub fn this_build() -> Header {
        Header {
            yara_x: yara_x::VERSION.to_owned(),
            target: Some(TARGET.to_owned()),
            mac: None,
        }
    }

    /// The same header with `mac`.
    pub fn with_mac(self, mac: String) -> Header {
        Header {
            mac: Some(mac),
            ..self
        }
    }

    /// The file: this header, then `body` (yara-x's bytes).
    pub fn write(&self, body: &[u8]) -> Vec<u8> {
        let mut out = HEADER_START.to_vec();
        let fields = [
            ("yara-x", Some(&self.yara_x)),
            ("target", self.target.as_ref()),
            ("mac", self.mac.as_ref()),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                out.extend_from_slice(format!("{name} {value}\n").as_bytes());
            }
        }
        out.push(b'\n');
        out.extend_from_slice(body);
        out
    }
}

/// A file of compiled rules split into this tool's header (`None`: as yara-x itself writes
/// them, e.g. `yr compile`) and yara-x's bytes. Only the header is read: the bytes are not
/// checked.
pub fn split(bytes: &[u8]) -> Result<(Option<Header>, &[u8]), FormatError> {
    let Some(rest) = bytes.strip_prefix(HEADER_START) else {
        return Ok((None, bytes));
    };
    let bad = |why: &str| FormatError::Header(why.to_owned());
    let end = rest[..rest.len().min(HEADER_MAX)]
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or_else(|| bad("no blank line ends it"))?;
    let text = std::str::from_utf8(&rest[..end]).map_err(|_| bad("not UTF-8"))?;
    let (mut yara_x, mut target, mut mac) = (None, None, None);
    for line in text.lines() {
        let (name, value) = line
            .split_once(' ')
            .ok_or_else(|| FormatError::Header(format!("`{line}` is no `name value` line")))?;
        let slot = match name {
            "yara-x" => &mut yara_x,
            "target" => &mut target,
            "mac" => &mut mac,
            other => return Err(FormatError::Header(format!("unknown field `{other}`"))),
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(FormatError::Header(format!("`{name}` twice")));
        }
    }
    let yara_x = yara_x.ok_or_else(|| bad("no `yara-x` field"))?;
    let header = Header {
        yara_x,
        target,
        mac,
    };
    Ok((Some(header), &rest[end + 2..]))
}

/// Checks that `body` is yara-x's serialized rules in the format this yara-x reads.
pub fn check_format(body: &[u8], header: Option<&Header>) -> Result<u32, FormatError> {
    let Some(version) = body
        .strip_prefix(MAGIC)
        .and_then(|rest| rest.get(..4))
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
    else {
        return Err(FormatError::NotRules);
    };
    let found = u32::from_le_bytes(version);
    // Unknown only if yara-x stopped naming it: its own check then decides, at load.
    let Some(expected) = format_version() else {
        return Ok(found);
    };
    if found != expected {
        let by = header.map_or(String::new(), |h| {
            format!(", written by yara-x {}", h.yara_x)
        });
        return Err(FormatError::Format {
            found,
            expected,
            by,
        });
    }
    Ok(found)
}

/// The serialization format this yara-x reads. yara-x does not export it, but names it when
/// refusing a preamble that has another (a unit test holds it to that).
fn format_version() -> Option<u32> {
    let mut probe = MAGIC.to_vec();
    probe.extend_from_slice(&u32::MAX.to_le_bytes());
    match yara_x::Rules::deserialize(&probe) {
        Err(yara_x::errors::SerializationError::InvalidVersion { expected, .. }) => Some(expected),
        _ => None,
    }
}

/// What a file of compiled rules holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// This tool's header, when it wrote the file.
    pub header: Option<Header>,
    /// yara-x's serialization format.
    pub format: u32,
    /// Rules in the set.
    pub rules: usize,
    /// The native code it carries; `None`: portable code only, compiled at load.
    pub native: Option<Native>,
    /// The SHA-256 of the whole file (what `RULES_YARC_SHA256` pins).
    pub sha256: String,
}

/// Native code in serialized rules: a wasmtime artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Native {
    /// Its size in bytes.
    pub size: usize,
    /// The target triple it was compiled for, as wasmtime recorded it.
    pub target: Option<String>,
    /// The wasmtime version that compiled it (only the same one loads it).
    pub wasmtime: Option<String>,
}

impl fmt::Display for Native {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unknown = "an unknown target";
        write!(f, "{} bytes", self.size)?;
        write!(f, " for {}", self.target.as_deref().unwrap_or(unknown))?;
        match &self.wasmtime {
            Some(v) => write!(f, " (wasmtime {v})"),
            None => write!(f, " (no wasmtime engine section)"),
        }
    }
}

/// What `bytes` hold; refused when they are not compiled rules this yara-x loads. Their native
/// code is described, never loaded: the rules are counted from a copy without it, whose
/// portable code yara-x compiles (wasmtime's sandbox is made for untrusted WASM).
pub fn describe(bytes: &[u8]) -> Result<Description, FormatError> {
    let (header, body) = split(bytes)?;
    let format = check_format(body, header.as_ref())?;
    let (native, portable) = without_native_code(body)?;
    let rules = yara_x::Rules::deserialize(&portable)
        .map_err(|e| FormatError::Load(error_chain(&e)))?
        .iter()
        .len();
    Ok(Description {
        header,
        format,
        rules,
        native: native.map(native_of),
        sha256: hex::encode(Sha256::digest(bytes)),
    })
}

/// The native code of what this binary serializes (`None`: built without `native-rules`), to
/// tell whether a file's would be used here.
pub fn own_native() -> Option<Native> {
    let rules = yara_x::compile("rule probe { condition: false }").ok()?;
    let body = rules.serialize().ok()?;
    without_native_code(&body).ok()?.0.map(native_of)
}

/// The fields bincode writes before the native code in yara-x 1.22's `Rules` (format 8): the
/// identifier and regexp pools, `relaxed_re_syntax`, the literal pool and the WASM module.
/// Only skipped over; a format change would show as a new format version.
type Leading<'a> = (Vec<&'a str>, Vec<&'a str>, bool, Vec<&'a [u8]>, &'a [u8]);

/// The native code of `body` (serialized rules, format checked), and `body` without it.
fn without_native_code(body: &[u8]) -> Result<(Option<&[u8]>, Vec<u8>), FormatError> {
    let config = bincode::config::standard();
    let content = |e: bincode::error::DecodeError| FormatError::Content(e.to_string());
    let data = &body[PREAMBLE..];
    let (_, lead) =
        bincode::serde::borrow_decode_from_slice::<Leading, _>(data, config).map_err(content)?;
    let (native, len) =
        bincode::serde::borrow_decode_from_slice::<Option<&[u8]>, _>(&data[lead..], config)
            .map_err(content)?;
    let mut portable = Vec::with_capacity(body.len());
    portable.extend_from_slice(&body[..PREAMBLE + lead]);
    portable.push(0); // bincode's `None`
    portable.extend_from_slice(&data[lead + len..]);
    Ok((native, portable))
}

/// What wasmtime's ELF artifact says of itself: its engine section holds a format byte, the
/// wasmtime version (length-prefixed), then postcard metadata that starts with the target.
fn native_of(code: &[u8]) -> Native {
    use object::{Object as _, ObjectSection as _};
    let engine = object::read::elf::ElfFile64::<object::Endianness>::parse(code)
        .ok()
        .and_then(|elf| {
            let section = elf.section_by_name(WASMTIME_ENGINE_SECTION)?;
            section.data().ok().map(<[u8]>::to_vec)
        });
    let (wasmtime, target) = match engine.as_deref() {
        Some([0, len, rest @ ..]) if rest.len() >= usize::from(*len) => {
            let (version, metadata) = rest.split_at(usize::from(*len));
            let target = postcard::take_from_bytes::<&str>(metadata)
                .ok()
                .map(|(t, _)| t.to_owned());
            (Some(String::from_utf8_lossy(version).into_owned()), target)
        }
        _ => (None, None),
    };
    Native {
        size: code.len(),
        target,
        wasmtime,
    }
}

/// An error and its causes, which yara-x's `Display` leaves out.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
