//! 7z: each file, block by block. A block whose coders include AES is encrypted: it is tried
//! with the walk's passwords (`password`: the one whose whole block decodes and checks out
//! opens it), else its files are encrypted members; so are encrypted headers, tried the same
//! way. A block that cannot be decoded (a method not built in, damage) is a problem naming its
//! file, and the walk goes on with the next block, which 7z decodes independently. A file said
//! to have data that no block holds is a problem.

use std::io::Cursor;
use std::time::Instant;

use sevenz_rust2::{Archive, BlockDecoder, EncoderMethod, Error, Password};

use super::password::{self, Trial};
use super::{
    Coder, Counted, DECODER_MEMORY_KIB, Flow, Format, Member, Problem, Seen, Visitor,
    visit_encrypted,
};
use crate::config::Password as Listed;

/// The signature header: magic, version, start header CRC, then the next header's offset and
/// size (from the end of this header).
const SIGNATURE_HEADER: usize = 32;
/// The member encrypted headers stand for when no password opens them.
const ENCRYPTED_HEADERS: &str = "(encrypted 7z headers)";

/// Encrypted headers, read with the first of the visitor's passwords that decrypts them so
/// that their CRC holds, within the time left; with that password.
fn encrypted_headers(
    source: &mut Cursor<&[u8]>,
    visit: &mut dyn Visitor,
) -> Option<(Archive, String)> {
    let deadline = visit.measure().deadline;
    let opened = in_order(visit.passwords(), None).find_map(|listed| {
        if Instant::now() >= deadline {
            return None;
        }
        let password = Password::from(listed);
        let archive = Archive::read_with_memory_limit(source, &password, DECODER_MEMORY_KIB);
        archive.ok().map(|archive| (archive, listed.to_owned()))
    })?;
    visit.opened(ENCRYPTED_HEADERS);
    Some(opened)
}

/// The visitor's passwords in the order they are tried: `first` (the one that opened another
/// part of the archive), then the others. 7z derives each key in 2^19 SHA-256 rounds and its
/// crate keeps only the last: the password that fits is tried first on the next block.
fn in_order<'a>(listed: &'a [Listed], first: Option<&'a str>) -> impl Iterator<Item = &'a str> {
    let rest = listed.iter().map(Listed::as_str);
    first
        .into_iter()
        .chain(rest.filter(move |p| Some(*p) != first))
}

/// Walks every file of the 7z `bytes`.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(Format::SevenZ, 0..SIGNATURE_HEADER);
    let mut source = Cursor::new(bytes);
    // The password that opened part of the archive, tried first on the rest.
    let mut fit = None;
    let archive = match Archive::read_with_memory_limit(
        &mut source,
        &Password::empty(),
        DECODER_MEMORY_KIB,
    ) {
        Ok(archive) => archive,
        Err(Error::PasswordRequired | Error::MaybeBadPassword(_)) => {
            match encrypted_headers(&mut source, visit) {
                Some((archive, password)) => {
                    fit = Some(password);
                    archive
                }
                None => {
                    visit_encrypted(visit, ENCRYPTED_HEADERS.into());
                    return seen;
                }
            }
        }
        Err(e) => {
            visit.problem(problem(None, e));
            return seen;
        }
    };
    packed(&archive, &mut seen);
    let Some(files) = files_by_block(&archive, visit) else {
        return seen;
    };
    for (index, names) in files.iter().enumerate() {
        if names.is_empty() {
            continue;
        }
        let block = Block {
            archive: &archive,
            index,
            names,
        };
        if block.visit(&mut fit, &mut source, &mut seen, visit) == Flow::Stop {
            break;
        }
    }
    seen
}

/// The names of the files with data in each block; `None` when the visitor said stop.
fn files_by_block<'a>(archive: &'a Archive, visit: &mut dyn Visitor) -> Option<Vec<Vec<&'a str>>> {
    let mut files: Vec<Vec<&str>> = vec![Vec::new(); archive.blocks.len()];
    for (i, file) in archive.files.iter().enumerate() {
        if !file.has_stream {
            continue;
        }
        let block = archive
            .stream_map
            .file_block_index
            .get(i)
            .copied()
            .flatten();
        match block.and_then(|b| files.get_mut(b)) {
            Some(names) => names.push(&file.name),
            None => {
                let why = "has data, but no block of the archive holds it";
                if visit.problem(Problem::broken(Some(file.name.clone()), why)) == Flow::Stop {
                    return None;
                }
            }
        }
    }
    Some(files)
}

/// Where each packed stream lies, and what compressed it (copied blocks' streams hold their
/// files' bytes as they are: what was read of them is noted as it is read).
fn packed(archive: &Archive, seen: &mut Seen) {
    let mut coders = vec![Coder::AsSaid; archive.pack_sizes().len()];
    let firsts = archive.stream_map.block_first_pack_stream_index();
    for (block, first) in archive.blocks.iter().zip(firsts) {
        if let Some(coder) = coders.get_mut(*first) {
            *coder = coder_of(block);
        }
    }
    for (i, (size, coder)) in archive.pack_sizes().iter().zip(coders).enumerate() {
        let start = pack_start(archive, i);
        seen.packed(start..start.saturating_add(*size as usize), coder);
    }
}

/// What compressed `block`'s packed stream, as far as finding its end goes: its one coder
/// that is not a filter (filters work on what it decodes), when that is one measured here.
fn coder_of(block: &sevenz_rust2::Block) -> Coder {
    const FILTERS: [&[u8]; 9] = [
        EncoderMethod::ID_DELTA,
        EncoderMethod::ID_BCJ_X86,
        EncoderMethod::ID_BCJ_PPC,
        EncoderMethod::ID_BCJ_IA64,
        EncoderMethod::ID_BCJ_ARM,
        EncoderMethod::ID_BCJ_ARM64,
        EncoderMethod::ID_BCJ_ARM_THUMB,
        EncoderMethod::ID_BCJ_SPARC,
        EncoderMethod::ID_BCJ_RISCV,
    ];
    let mut coders = block
        .coders
        .iter()
        .filter(|c| !FILTERS.contains(&c.encoder_method_id()));
    let (Some(coder), None) = (coders.next(), coders.next()) else {
        return Coder::AsSaid;
    };
    match coder.encoder_method_id() {
        id if id == EncoderMethod::ID_LZMA2 => coder
            .properties()
            .first()
            .and_then(|p| lzma2_dict_size(*p))
            .map_or(Coder::AsSaid, |dict_size| Coder::Lzma2 { dict_size }),
        id if id == EncoderMethod::ID_DEFLATE => Coder::Deflate,
        id if id == EncoderMethod::ID_BZIP2 => Coder::Bzip2,
        id if id == EncoderMethod::ID_ZSTD => Coder::Zstd,
        _ => Coder::AsSaid,
    }
}

/// The dictionary size an LZMA2 coder's property byte gives (the LZMA2 format: 2 or 3 times
/// a power of two, from 4 KiB; 40 means 4 GiB - 1).
fn lzma2_dict_size(property: u8) -> Option<u32> {
    match property {
        0..40 => Some((2 | u32::from(property & 1)) << (property / 2 + 11)),
        40 => Some(u32::MAX),
        _ => None,
    }
}

/// Where packed stream `i` starts in the archive.
fn pack_start(archive: &Archive, i: usize) -> usize {
    let offset = archive.stream_map.pack_stream_offsets().get(i).copied();
    (SIGNATURE_HEADER as u64)
        .saturating_add(archive.pack_pos())
        .saturating_add(offset.unwrap_or(0)) as usize
}

/// Where block `index` holds its files' bytes as they are (its one coder copies), if it does.
fn copied_at(archive: &Archive, index: usize) -> Option<usize> {
    let coders = &archive.blocks.get(index)?.coders;
    let copies =
        matches!(coders.as_slice(), [c] if c.encoder_method_id() == EncoderMethod::ID_COPY);
    let first = archive
        .stream_map
        .block_first_pack_stream_index()
        .get(index)?;
    copies.then(|| pack_start(archive, *first))
}

/// One block of an archive.
struct Block<'a> {
    archive: &'a Archive,
    index: usize,
    /// The names of its files with data.
    names: &'a [&'a str],
}

impl Block<'_> {
    /// Visits the files: an encrypted block's with the first of the visitor's passwords that
    /// fits (`fit`, the one that opened another part of the archive, first; updated), else as
    /// encrypted members.
    fn visit(
        &self,
        fit: &mut Option<String>,
        source: &mut Cursor<&[u8]>,
        seen: &mut Seen,
        visit: &mut dyn Visitor,
    ) -> Flow {
        let encrypted = self.archive.blocks[self.index]
            .coders
            .iter()
            .any(|c| c.encoder_method_id() == EncoderMethod::ID_AES256_SHA256);
        if !encrypted {
            return self.decode(&Password::empty(), false, source, seen, visit);
        }
        match self.fitting(fit.as_deref(), source, visit) {
            Some(listed) => {
                let password = Password::from(listed.as_str());
                *fit = Some(listed);
                self.decode(&password, true, source, seen, visit)
            }
            None => encrypted_files(self.names, visit),
        }
    }

    /// The first of the visitor's passwords (`first` first) with which the block decodes to
    /// its end, every file's CRC holding (7z's AES has no check of its own: a wrong key
    /// decrypts to garbage). Each file is read into nothing, within the cap of one member and
    /// the time left.
    fn fitting(
        &self,
        first: Option<&str>,
        source: &mut Cursor<&[u8]>,
        visit: &dyn Visitor,
    ) -> Option<String> {
        let measure = visit.whole();
        for listed in in_order(visit.passwords(), first) {
            // Each key costs up to 2^24 SHA-256 rounds (the crate's cap), which no read
            // interrupts: a block of a hostile archive is not tried once the time is up.
            if Instant::now() >= measure.deadline {
                return None;
            }
            let password = Password::from(listed);
            let decoder = BlockDecoder::new_with_memory_limit(
                1,
                DECODER_MEMORY_KIB,
                self.index,
                self.archive,
                &password,
                source,
            );
            let mut trial = Trial::Fits;
            let result = decoder.for_each_entries(&mut |_, reader| {
                trial = password::trial(reader, measure);
                Ok(trial == Trial::Fits)
            });
            match (trial, result) {
                (Trial::Fits, Ok(_)) => return Some(listed.to_owned()),
                (Trial::Undecided, _) => return None,
                (Trial::Fits | Trial::Wrong, _) => {}
            }
        }
        None
    }

    /// Hands each file to `visit`, decoded with `password` (`opened`: a listed one, of which
    /// the visitor is told for each file); a block that fails to decode is a problem naming
    /// the file.
    fn decode(
        &self,
        password: &Password,
        opened: bool,
        source: &mut Cursor<&[u8]>,
        seen: &mut Seen,
        visit: &mut dyn Visitor,
    ) -> Flow {
        let (archive, index) = (self.archive, self.index);
        let decoder = BlockDecoder::new_with_memory_limit(
            1,
            DECODER_MEMORY_KIB,
            index,
            archive,
            password,
            source,
        );
        let (mut current, mut stopped, mut read) = (None, false, 0);
        let result = decoder.for_each_entries(&mut |entry, reader| {
            if !entry.has_stream {
                return Ok(true);
            }
            current = Some(entry.name.clone());
            if opened {
                visit.opened(&entry.name);
            }
            let mut counted = Counted::new(reader);
            let flow = visit.member(Member {
                name: entry.name.clone(),
                reader: &mut counted,
                encrypted: false,
                stream: false,
                parts: None,
            });
            read += counted.read();
            stopped = flow == Flow::Stop;
            // Any other answer than go on leaves the rest of the block undecoded.
            Ok(flow == Flow::Continue)
        });
        // A copied block's files lie one after the other: those read, from its start.
        if let Some(start) = copied_at(archive, index) {
            seen.content(start..start.saturating_add(read));
        }
        if stopped {
            return Flow::Stop;
        }
        match result {
            Ok(_) => Flow::Continue,
            Err(e) => {
                let name = current.unwrap_or_else(|| self.names[0].to_owned());
                visit.problem(problem(Some(name), e))
            }
        }
    }
}

/// Tells `visit` of the files `names` of an encrypted block.
fn encrypted_files(names: &[&str], visit: &mut dyn Visitor) -> Flow {
    for name in names {
        if visit_encrypted(visit, (*name).to_owned()) == Flow::Stop {
            return Flow::Stop;
        }
    }
    Flow::Continue
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::formats::Measure;

    /// Keeps the problems; reads no member.
    #[derive(Default)]
    struct Problems(Vec<Problem>);

    impl Visitor for Problems {
        fn member(&mut self, _: Member<'_>) -> Flow {
            Flow::Continue
        }
        fn problem(&mut self, problem: Problem) -> Flow {
            self.0.push(problem);
            Flow::Continue
        }
        fn measure(&self) -> Measure {
            Measure {
                cap: 0,
                deadline: std::time::Instant::now(),
            }
        }
    }

    #[test]
    fn a_file_with_data_that_no_block_holds_is_a_problem() {
        let mut archive = Archive::default();
        let mut file = sevenz_rust2::ArchiveEntry::new_file("eicar.com");
        file.has_stream = true;
        archive.files.push(file);
        archive
            .files
            .push(sevenz_rust2::ArchiveEntry::new_directory("d"));
        archive.stream_map.file_block_index = vec![None, None];
        let mut problems = Problems::default();
        let files = files_by_block(&archive, &mut problems);
        assert_eq!(files, Some(vec![]));
        assert_eq!(
            problems.0,
            [Problem::broken(
                Some("eicar.com".into()),
                "has data, but no block of the archive holds it"
            )]
        );
    }

    #[test]
    fn the_password_that_opened_part_of_the_archive_is_tried_first_and_once() {
        let listed = crate::config::Passwords::parse("infected,malware,virus", ',').unwrap();
        let order = |first| in_order(listed.as_slice(), first).collect::<Vec<_>>();
        assert_eq!(order(None), ["infected", "malware", "virus"]);
        assert_eq!(order(Some("virus")), ["virus", "infected", "malware"]);
    }

    #[test]
    fn an_lzma2_dictionary_size_is_read_from_its_property() {
        assert_eq!(lzma2_dict_size(0), Some(4 << 10));
        assert_eq!(lzma2_dict_size(1), Some(6 << 10));
        assert_eq!(lzma2_dict_size(18), Some(2 << 20));
        assert_eq!(lzma2_dict_size(19), Some(3 << 20));
        assert_eq!(lzma2_dict_size(40), Some(u32::MAX));
        assert_eq!(lzma2_dict_size(41), None);
    }
}
