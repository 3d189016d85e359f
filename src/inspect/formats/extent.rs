//! How far compressed data really goes. A container says how many bytes a member's compressed
//! data takes, and may lie: what lies after the stream's real end, inside the room said to be
//! the member's, is no part of it (a member hidden there, as Java's `ZipInputStream` finds
//! it). Inside the stream, what looks like an archive is a copy of what the stream decodes to
//! (compressors store bytes they cannot shrink as they are: deflate's stored blocks, LZMA2's
//! and zstd's raw chunks) or chance: the member's own walk saw the first. So the stream's
//! real end is found, by decoding it again with its output dropped, only when something that
//! looks like an archive turns up in that room.

use std::io::Read;
use std::time::Instant;

use super::DECODER_MEMORY_KIB;

/// What compressed a run of bytes, as far as finding where it ends goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coder {
    /// Taken as the container says (a method not measured here, encrypted data, or a stream
    /// measured already).
    AsSaid,
    /// Deflate (zip's method 8, 7z's Deflate).
    Deflate,
    /// A gzip member (a stream inside other bytes).
    Gzip,
    /// bzip2 (zip's method 12, 7z's BZip2, a stream inside other bytes).
    Bzip2,
    /// zstd frames (zip's method 93, 7z's ZSTD, a stream inside other bytes).
    Zstd,
    /// An xz stream (zip's method 95, a stream inside other bytes).
    Xz,
    /// Raw LZMA2 with this dictionary (7z's LZMA2).
    Lzma2 {
        /// The dictionary size, from the coder's properties.
        dict_size: u32,
    },
}

/// How far measuring may go: what a member may expand to, and the walk's deadline.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    /// Decoded bytes after which measuring stops.
    pub cap: u64,
    /// When it stops in any case.
    pub deadline: Instant,
}

/// How many of `bytes` (`said` of them by the container) the `coder`'s stream takes: where it
/// ended or failed. All that was said when measuring stopped first (past `measure`'s cap or
/// deadline): what is beyond where it stopped may be the stream's too.
pub fn taken(coder: Coder, bytes: &[u8], said: usize, measure: Measure) -> usize {
    let bytes = &bytes[..said.min(bytes.len())];
    let taken = match coder {
        Coder::AsSaid => None,
        Coder::Deflate => {
            let mut decoder = flate2::bufread::DeflateDecoder::new(bytes);
            drain(&mut decoder, measure).then(|| decoder.total_in() as usize)
        }
        Coder::Gzip => {
            let mut decoder = flate2::bufread::GzDecoder::new(bytes);
            let ended = drain(&mut decoder, measure);
            ended.then(|| bytes.len() - decoder.into_inner().len())
        }
        Coder::Bzip2 => {
            let mut decoder = bzip2::bufread::BzDecoder::new(bytes);
            drain(&mut decoder, measure).then(|| decoder.total_in() as usize)
        }
        Coder::Zstd => Some(frames(bytes)),
        Coder::Xz => {
            let xz = lzma_rust2::XzStream::new_mem_limit(false, DECODER_MEMORY_KIB as u32);
            process(xz, bytes, measure, |xz, input, output| {
                let done = xz.process(input, output, lzma_rust2::Action::Finish)?;
                Ok((done, xz.total_in()))
            })
        }
        Coder::Lzma2 { dict_size } => {
            let memory = DECODER_MEMORY_KIB as u32;
            let lzma2 = lzma_rust2::Lzma2Stream::new_mem_limit(dict_size, memory);
            process(lzma2, bytes, measure, |lzma2, input, output| {
                let done = lzma2.process(input, output, lzma_rust2::Action::Finish)?;
                Ok((done, lzma2.total_in()))
            })
        }
    };
    taken.map_or(bytes.len(), |taken| taken.min(bytes.len()))
}

/// Reads `reader` to its end (or an error), its output dropped, within `measure`; false when
/// measuring stopped first.
fn drain(reader: &mut dyn Read, measure: Measure) -> bool {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut out = 0u64;
    while out < measure.cap && Instant::now() < measure.deadline {
        match reader.read(&mut chunk) {
            Ok(0) | Err(_) => return true,
            Ok(n) => out += n as u64,
        }
    }
    false
}

/// The bytes of the zstd frames `bytes` start with, one after the other (a frame's size is
/// in its block headers: nothing is decoded).
fn frames(bytes: &[u8]) -> usize {
    let mut at = 0;
    while at < bytes.len() {
        match zstd::zstd_safe::find_frame_compressed_size(&bytes[at..]) {
            Ok(n) if n > 0 => at += n,
            _ => break,
        }
    }
    at
}

/// The input a sans-I/O decoder `state` takes from `bytes` (`step` feeds it and says what it
/// did and its input so far), within `measure`; `None` when measuring stopped first.
fn process<S>(
    mut state: S,
    bytes: &[u8],
    measure: Measure,
    mut step: impl FnMut(
        &mut S,
        &[u8],
        &mut [u8],
    ) -> lzma_rust2::Result<(lzma_rust2::StreamResult, u64)>,
) -> Option<usize> {
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut at, mut out) = (0usize, 0u64);
    while out < measure.cap && Instant::now() < measure.deadline {
        match step(&mut state, &bytes[at..], &mut chunk) {
            Ok((done, total_in)) => {
                at = (total_in as usize).min(bytes.len());
                out += done.bytes_produced as u64;
                let stuck = done.bytes_consumed == 0 && done.bytes_produced == 0;
                if done.status == lzma_rust2::Status::StreamEnd || stuck {
                    return Some(at);
                }
            }
            Err(_) => return Some(at),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    fn measure() -> Measure {
        Measure {
            cap: 1 << 30,
            deadline: Instant::now() + Duration::from_secs(20),
        }
    }

    /// Text, then bytes that do not compress (which compressors store as they are).
    fn data() -> Vec<u8> {
        let mut x: u32 = 7;
        let noise = (0..200_000).map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        });
        b"some text "
            .repeat(1000)
            .into_iter()
            .chain(noise)
            .collect()
    }

    #[test]
    fn each_stream_is_measured_to_its_real_end_whatever_the_room_said() {
        let data = data();
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        deflate.write_all(&data).unwrap();
        let deflate = deflate.finish().unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&data).unwrap();
        let bz = bz.finish().unwrap();
        let zst = [
            zstd::encode_all(&data[..5000], 1).unwrap(),
            zstd::encode_all(&data[5000..], 1).unwrap(),
        ]
        .concat();
        let mut xz =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
        xz.write_all(&data).unwrap();
        let xz = xz.finish().unwrap();
        let mut lzma2 =
            lzma_rust2::Lzma2Writer::new(Vec::new(), lzma_rust2::Lzma2Options::with_preset(1));
        lzma2.write_all(&data).unwrap();
        let lzma2 = lzma2.finish().unwrap();
        let dict_size = lzma_rust2::Lzma2Options::with_preset(1)
            .lzma_options
            .dict_size;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        for (coder, stream) in [
            (Coder::Deflate, deflate),
            (Coder::Gzip, gz),
            (Coder::Bzip2, bz),
            (Coder::Zstd, zst),
            (Coder::Xz, xz),
            (Coder::Lzma2 { dict_size }, lzma2),
        ] {
            let said = stream.len() + 4000;
            let room = [stream.clone(), b"PK\x03\x04 hidden after it".repeat(200)].concat();
            assert_eq!(
                taken(coder, &room, said, measure()),
                stream.len(),
                "{coder:?}"
            );
            // Cut short, or damaged: as far as it went.
            let cut = &stream[..stream.len() / 2];
            assert!(taken(coder, cut, said, measure()) <= cut.len(), "{coder:?}");
        }
        assert_eq!(taken(Coder::AsSaid, &[0; 100], 60, measure()), 60);
        assert_eq!(
            taken(Coder::AsSaid, &[0; 10], 60, measure()),
            10,
            "the bytes there are"
        );
    }

    #[test]
    fn a_stream_measuring_stopped_short_of_takes_all_that_was_said() {
        let zeros = vec![0u8; 8 << 20];
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        deflate.write_all(&zeros).unwrap();
        let deflate = deflate.finish().unwrap();
        let capped = Measure {
            cap: 1 << 20,
            ..measure()
        };
        let room = [deflate.clone(), vec![b'x'; 100]].concat();
        assert_eq!(taken(Coder::Deflate, &room, room.len(), capped), room.len());
        assert_eq!(
            taken(Coder::Deflate, &room, room.len(), measure()),
            deflate.len()
        );
    }
}
