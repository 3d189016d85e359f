//! PowerPoint 97-2003: the OLE objects a presentation embeds are not streams of its compound
//! file but records inside its `PowerPoint Document` stream (`ExOleObjStg`, MS-PPT 2.10.34),
//! stored as they are or zlib-compressed. Each is a member (`oleobjectN.ole`, an OLE2 file in
//! turn, walked again).

use std::io::Read;

/// The record that holds an embedded object's storage.
const EX_OLE_OBJ_STG: u16 = 0x1011;
/// A record header: version and instance, type, length.
const HEADER: usize = 8;

/// True for the stream that holds a presentation's records.
pub(super) fn is_document(path: &str) -> bool {
    path.rsplit('/').next() == Some("PowerPoint Document")
}

/// The objects the records of `stream` embed, decompressed when they were compressed (what
/// decoded before an error, as PowerPoint would get no more).
pub(super) fn objects(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(header) = stream.get(at..at + HEADER) {
        let version_instance = u16::from_le_bytes([header[0], header[1]]);
        let kind = u16::from_le_bytes([header[2], header[3]]);
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let body = at + HEADER;
        // A container's children follow its header: walked in turn.
        if version_instance & 0x0f == 0x0f {
            at = body;
            continue;
        }
        let Some(data) = stream.get(body..body.saturating_add(len)) else {
            break;
        };
        if kind == EX_OLE_OBJ_STG {
            found.push(match version_instance >> 4 {
                1 => inflate(data.get(4..).unwrap_or_default()),
                _ => data.to_vec(),
            });
        }
        at = body + len;
    }
    found
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let cap = super::DECODER_MEMORY_KIB as u64 * 1024;
    let _ = flate2::read::ZlibDecoder::new(data)
        .take(cap)
        .read_to_end(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version_instance: u16, kind: u16, body: &[u8]) -> Vec<u8> {
        let header = [version_instance.to_le_bytes(), kind.to_le_bytes()].concat();
        [
            header,
            (body.len() as u32).to_le_bytes().to_vec(),
            body.to_vec(),
        ]
        .concat()
    }

    #[test]
    fn embedded_objects_are_found_inside_containers_stored_or_compressed() {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(b"compressed object").unwrap();
        let compressed = [17u32.to_le_bytes().to_vec(), z.finish().unwrap()].concat();
        let children = [
            record(0, 0x0fba, b"atom"),
            record(0x10, EX_OLE_OBJ_STG, &compressed),
            record(0, EX_OLE_OBJ_STG, b"stored object"),
        ]
        .concat();
        let stream = record(0x0f, 0x03e8, &children);
        assert_eq!(
            objects(&stream),
            [b"compressed object".to_vec(), b"stored object".to_vec()]
        );
        assert!(is_document("PowerPoint Document") && !is_document("Pictures"));
    }
}
