//! 7z: each file, block by block. A block whose coders include AES is encrypted (its files are
//! encrypted members: no password is tried); a block that cannot be decoded (a method not
//! built in, damage) is a problem naming its file, and the walk goes on with the next block,
//! which 7z decodes independently.

use std::io::Cursor;

use sevenz_rust2::{Archive, BlockDecoder, EncoderMethod, Error, Password};

use super::{DECODER_MEMORY_KIB, Flow, Member, Problem, Spans, Visitor, visit_encrypted};

/// The signature header: magic, version, start header CRC, then the next header's offset and
/// size (from the end of this header).
const SIGNATURE_HEADER: usize = 32;

/// Walks every file of the 7z `bytes`.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Spans {
    let password = Password::empty();
    let mut source = Cursor::new(bytes);
    let archive = match Archive::read_with_memory_limit(&mut source, &password, DECODER_MEMORY_KIB)
    {
        Ok(archive) => archive,
        Err(Error::PasswordRequired | Error::MaybeBadPassword(_)) => {
            visit_encrypted(visit, "(encrypted 7z headers)".into());
            return Spans::all(bytes.len());
        }
        Err(e) => {
            visit.problem(problem(None, e));
            return Spans::default();
        }
    };
    let mut files: Vec<Vec<&str>> = vec![Vec::new(); archive.blocks.len()];
    for (file, block) in archive
        .files
        .iter()
        .zip(&archive.stream_map.file_block_index)
    {
        if let Some(names) = block.and_then(|b| files.get_mut(b))
            && file.has_stream
            && !file.is_directory
        {
            names.push(&file.name);
        }
    }
    for (index, names) in files.iter().enumerate() {
        if names.is_empty() {
            continue;
        }
        if block(&archive, index, names, &mut source, visit) == Flow::Stop {
            break;
        }
    }
    Spans::all(extent(bytes))
}

/// Visits the files of block `index`, named `names`.
fn block(
    archive: &Archive,
    index: usize,
    names: &[&str],
    source: &mut Cursor<&[u8]>,
    visit: &mut dyn Visitor,
) -> Flow {
    let encrypted = archive.blocks[index]
        .coders
        .iter()
        .any(|c| c.encoder_method_id() == EncoderMethod::ID_AES256_SHA256);
    if encrypted {
        for name in names {
            if visit_encrypted(visit, (*name).to_owned()) == Flow::Stop {
                return Flow::Stop;
            }
        }
        return Flow::Continue;
    }
    let password = Password::empty();
    let decoder = BlockDecoder::new_with_memory_limit(
        1,
        DECODER_MEMORY_KIB,
        index,
        archive,
        &password,
        source,
    );
    let (mut current, mut stopped) = (None, false);
    let result = decoder.for_each_entries(&mut |entry, reader| {
        if !entry.has_stream || entry.is_directory {
            return Ok(true);
        }
        current = Some(entry.name.clone());
        let flow = visit.member(Member {
            name: entry.name.clone(),
            reader,
            encrypted: false,
            stream: false,
        });
        stopped = flow == Flow::Stop;
        // Any other answer than go on leaves the rest of the block undecoded.
        Ok(flow == Flow::Continue)
    });
    if stopped {
        return Flow::Stop;
    }
    match result {
        Ok(_) => Flow::Continue,
        Err(e) => {
            let name = current.unwrap_or_else(|| names[0].to_owned());
            visit.problem(problem(Some(name), e))
        }
    }
}

/// What a 7z error means: a method not decoded here, or damage.
fn problem(member: Option<String>, e: Error) -> Problem {
    match (&e, member) {
        (
            Error::UnsupportedCompressionMethod(_)
            | Error::Unsupported(_)
            | Error::MaxMemLimited { .. },
            member,
        ) => Problem::unsupported(member.unwrap_or_else(|| "(7z headers)".into()), e),
        (_, member) => Problem::broken(member, e),
    }
}

/// How far the archive goes: its signature header, then up to the end of its next header.
fn extent(bytes: &[u8]) -> usize {
    let field = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let end = (SIGNATURE_HEADER as u64)
        .saturating_add(field(12))
        .saturating_add(field(20));
    usize::try_from(end).map_or(bytes.len(), |end| end.min(bytes.len()))
}
