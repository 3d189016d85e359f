//! Compiles `signatures/*.yar` with yara-x at build time and embeds the serialized rules, so
//! that the function only deserializes them at start-up. A rule error fails the build and
//! names the file and line.

use std::path::{Path, PathBuf};
use std::{env, fs, process};

use sha2::{Digest, Sha256};

// The external variables every compiler of this project defines (src/scan/externals.rs).
mod externals {
    include!("src/scan/externals.rs");
}

/// The generation of what the scanner looks into (src/inspect/): raise it when an object
/// judged `Clean` before could be judged otherwise now with the same rules.
const INSPECTION: u32 = 4;

fn main() {
    let dir = Path::new("signatures");
    println!("cargo::rerun-if-changed={}", dir.display());
    println!("cargo::rerun-if-changed=src/scan/externals.rs");
    // Compiled rules carry native code for one platform: caches of them are keyed by it.
    println!(
        "cargo::rustc-env=S3_YARA_SCAN_TARGET={}",
        env::var("TARGET").unwrap_or_else(|_| "unknown".into())
    );
    let mut files = Vec::new();
    if let Err(e) = collect(dir, &mut files) {
        fail(&format!("cannot read {}: {e}", dir.display()));
    }
    files.sort();
    if files.is_empty() {
        fail("signatures/ holds no .yar or .yara files");
    }

    let mut compiler = yara_x::Compiler::new();
    for name in externals::EXTERNALS {
        if let Err(e) = compiler.define_global(name, "") {
            fail(&format!("cannot define the external `{name}`: {e}"));
        }
    }
    // Rule identity covers the sources and the engine that compiled them: serialized rules only
    // load in the same yara-x version.
    let mut hasher = Sha256::new();
    // The build dependency is the yara-x the binary links: Cargo.lock resolves both to one.
    // Hashed as the line Cargo.lock holds, which earlier builds hashed, so ids stay the same.
    hasher.update(format!("version = \"{}\"", yara_x::VERSION).as_bytes());
    // And what the scanner looks into with them: a `Clean` from an inspection that opened fewer
    // containers, or let broken ones and content encodings pass (before generation 2), or did
    // not open cpio, cabinets, OLE2 files and mail (before 3), nor installers, RAR, ARJ, LHA, CHM,
    // UDF, OneNote, UPX, programs inside other bytes and encrypted PDFs (before 4), is no
    // verdict of these rules, so signed verdicts of it are not skipped but scanned again.
    hasher.update(format!("\0inspection {INSPECTION}").as_bytes());
    for file in &files {
        println!("cargo::rerun-if-changed={}", file.display());
        let source = fs::read_to_string(file)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", file.display())));
        let origin = file.display().to_string();
        hasher.update(origin.as_bytes());
        hasher.update([0]);
        hasher.update(source.as_bytes());
        hasher.update([0]);
        let code = yara_x::SourceCode::from(source.as_str()).with_origin(origin.as_str());
        if let Err(e) = compiler.add_source(code) {
            fail(&format!("rule error in {origin}:\n{e}"));
        }
    }
    for warning in compiler.warnings() {
        println!("cargo::warning={}", warning.to_string().replace('\n', " "));
    }
    let rules = compiler.build();
    let bytes = rules
        .serialize()
        .unwrap_or_else(|e| fail(&format!("cannot serialize rules: {e}")));

    let id = hex::encode(&hasher.finalize()[..6]);
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR is not set")));
    write(&out.join("rules.bin"), &bytes);
    write(&out.join("ruleset_id"), id.as_bytes());
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yar" | "yara")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) {
    if let Err(e) = fs::write(path, bytes) {
        fail(&format!("cannot write {}: {e}", path.display()));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    process::exit(1);
}
