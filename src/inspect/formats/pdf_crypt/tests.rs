//! Decryption against documents qpdf 11.3 encrypted with an empty user password (R2 to R6),
//! literal and hex strings, damage; clam.pdf encrypted by qpdf when it is installed.

use super::*;
use crate::inspect::formats::decoder_tests::{GOLDEN, XorShift, hex, mutations, within};
use std::time::{Duration, Instant};

/// The content stream (object 5) every vector encrypts, and the /Title of object 2.
const CONTENT: &[u8] = b"BT /F1 12 Tf 20 100 Td (Hello, encrypted world!) Tj ET";
const TITLE: &[u8] = b"Secret title";
/// qpdf's --static-id file identifier.
const ID: &str = "31415926535897932384626433832795";

/// One file made by qpdf 11.3 (`--static-id --stream-data=preserve --encrypt "" owner ...`
/// or with user password "user"): its /Encrypt dictionary, object 5's stream, object 2's
/// /Title, as written.
struct Vector {
    dict: &'static [u8],
    stream: &'static [&'static str],
    title: &'static [&'static str],
}

fn unhex(parts: &[&str]) -> Vec<u8> {
    hex(&parts.concat())
}

fn id() -> Vec<u8> {
    unhex(&[ID])
}

/// `40`: /V 1 /R 2, RC4 40-bit.
const R2: Vector = Vector {
    dict: b"<< /Filter /Standard /Length 40 /O <c92422687facee686e373f10b5c7d04738053152f7e2ee30e11c69ec442576ab> /P -4 /R 2 /U <b3d9fa366906ef42f354c6deb74c59075eaf334eb7c04356ba0d7f3dd8b51d0a> /V 1 >>",
    stream: &[
        "2f47a7201fc17e6de6a70616b1e3ebbfe91ebf4dc39dbfbc7899cba0ca6c2ad5c5725dd38fce6d5b0d76ea81",
        "fba0ef3756afc206a92f",
    ],
    title: &[
        "e9cbd5553118a411a324d2d7",
    ],
};
/// `128 --use-aes=n`: /V 2 /R 3, RC4 128-bit.
const R3: Vector = Vector {
    dict: b"<< /Filter /Standard /Length 128 /O <566fa873ee33c797cd3b904fdadf814afa34df9a38f6ed41b984e2c6da2aa6f5> /P -4 /R 3 /U <e21cc3d13b0faa9934db7d20f11e333e0122456a91bae5134273a6db134c87c4> /V 2 >>",
    stream: &[
        "db9d1476754fa1cca73399bf97095b636ab2c2b941aeb81670b12bcfeeb0fcb3c1fb4bdaa09d68cb5f328cd2",
        "6535d5038fab5c2bcf42",
    ],
    title: &[
        "388f3ad1e05b651a60ad490a",
    ],
};
/// `128 --force-V4 --use-aes=n`: /V 4 /R 4, crypt filter /V2.
const R4RC4: Vector = Vector {
    dict: b"<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /V2 /Length 16 >> >> /Filter /Standard /Length 128 /O <566fa873ee33c797cd3b904fdadf814afa34df9a38f6ed41b984e2c6da2aa6f5> /P -4 /R 4 /StmF /StdCF /StrF /StdCF /U <e21cc3d13b0faa9934db7d20f11e333e0122456a91bae5134273a6db134c87c4> /V 4 >>",
    stream: &[
        "db9d1476754fa1cca73399bf97095b636ab2c2b941aeb81670b12bcfeeb0fcb3c1fb4bdaa09d68cb5f328cd2",
        "6535d5038fab5c2bcf42",
    ],
    title: &[
        "388f3ad1e05b651a60ad490a",
    ],
};
/// `128 --use-aes=y`: /V 4 /R 4, crypt filter /AESV2.
const R4AES: Vector = Vector {
    dict: b"<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV2 /Length 16 >> >> /Filter /Standard /Length 128 /O <566fa873ee33c797cd3b904fdadf814afa34df9a38f6ed41b984e2c6da2aa6f5> /P -4 /R 4 /StmF /StdCF /StrF /StdCF /U <e21cc3d13b0faa9934db7d20f11e333e0122456a91bae5134273a6db134c87c4> /V 4 >>",
    stream: &[
        "aaee5cb061ddde5fc7ab6708e2c2db35dbb8f3c20f41eeeff67e68f5450b2971875e8692b881e0894736e20f",
        "b6ae70977203f8415b4d877dfc916c0e13de062a31f92208c187a026c3191ed4a5c55cc2",
    ],
    title: &[
        "d1a5332641901bfc42dc019ce899f1239b84443f2fcadf104a5bff0ad7057998",
    ],
};
/// `128 --use-aes=y --cleartext-metadata`: /EncryptMetadata false.
const R4CLEAR: Vector = Vector {
    dict: b"<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV2 /Length 16 >> >> /EncryptMetadata false /Filter /Standard /Length 128 /O <566fa873ee33c797cd3b904fdadf814afa34df9a38f6ed41b984e2c6da2aa6f5> /P -4 /R 4 /StmF /StdCF /StrF /StdCF /U <b7ae61ae5fe831ccd7979c155d4f926c0122456a91bae5134273a6db134c87c4> /V 4 >>",
    stream: &[
        "98b19d5b9d5fa1fa0309c022157d643b023c0bdd5bc00335da934ec7e052133af10b32cc628feb1fe6c1443b",
        "a82a58a5d416718219cb3f6ba2895546d9cd4e19262126ac6f25f8ca3a5fe037c09ec860",
    ],
    title: &[
        "01e070cbd50dd8562a5168d156be6d8fcdb3dfbe4025f5eb4c612443beee9922",
    ],
};
/// `256 --force-R5` (with --allow-weak-crypto): /R 5, /AESV3.
const R5: Vector = Vector {
    dict: b"<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV3 /Length 32 >> >> /Filter /Standard /Length 256 /O <1fcdfb8a3a8cd3e59253e3fd6338ddf16fe1f44cd162e590fc2f2749faaa60bb35d5298fb434c8fbb988fbed1c896ae1> /OE <a4e07ff10d9cd7d351cc1bb9553297a69f99e50dc274ea55bf3a6669ce0b2975> /P -4 /Perms <a5aee3513b69da539c7d8bc2002f00f7> /R 5 /StmF /StdCF /StrF /StdCF /U <753f55a98c13544283d0a4fe09e4ead8db4d2dc50dcb077c5c9e6e70743ba98d653a94f59cdbbdefa4fd176d037894a2> /UE <a96becb476be7ffde93d58a42362c626b479a9752cbb53bfc9cfeda93e9cc5ae> /V 5 >>",
    stream: &[
        "916e9b7b19c8d839c31ec1d77e1e4995544c8671689cab8c15c5c3c6220661c0c67c60283468f12d26c7994d",
        "72452bde8d508c8ec8099bc3bce66b9481f01caf2b0c97ecf36da9c4dbb5d76d052fd2dc",
    ],
    title: &[
        "55688b52c899b447114d864680fa710e29e7f7df602f95b9d257648ef472a94d",
    ],
};
/// `256`: /V 5 /R 6, /AESV3.
const R6: Vector = Vector {
    dict: b"<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV3 /Length 32 >> >> /Filter /Standard /Length 256 /O <9460974fed6091f0d00084a57c2a7ecea840ed775252f4f87f3c20ae95f44774dad9918f36cb92b84603febae274c412> /OE <8a67b5fdc071ab7b00ec1221b1cb00655479d93227184c22f739d54a00d4412e> /P -4 /Perms <16bc178affceb39a26e2df2c45d7c267> /R 6 /StmF /StdCF /StrF /StdCF /U <bf2ce6ac36e99c7d3204f55d32a7ecbd069f01b633dbe97a1b3aa92a70d4d721b2f4aed92b3c1d1ac01818479a52b755> /UE <f9757ce709f792b8d28e377f124b893c2b387e0b8df02e916005ba2a8818e8d1> /V 5 >>",
    stream: &[
        "40c0e8140456ddf3a827478651bcbdc7e68ddc25827f8476ae6389ee26c84f427df1c8750e9d21a65c8db325",
        "7638434de49a1955d97ba89d137d898c5dbe6bbdbe2fd5113e76d6397a4a0bde34bcc30e",
    ],
    title: &[
        "6d779007c2ae6c52e899e2eeb30ed35b65a19c7a0e766d0380ad74310be0209f",
    ],
};
/// user password "user", `40`.
const USER2: Vector = Vector {
    dict: b"<< /Filter /Standard /Length 40 /O <94e8094419662a774442fb072e3d9f19e9d130ec09a4d0061e78fe920f7ab62f> /P -4 /R 2 /U <2aa12f26bcf1a217c0f1ee491745f646671475ae85bddf3e3c1a45a8457391cb> /V 1 >>",
    stream: &[
        "0c094c8bc76c6b44cdb95b4d33ba1d2f973d94f75e034226f025799c21500b6c94200b3342a5a2e7549b3df4",
        "ce95bb80221b57309ab7",
    ],
    title: &[
        "ac563d076af4b9bf6c62ba35",
    ],
};
/// user password "user", `128 --use-aes=y`.
const USER4: Vector = Vector {
    dict: b"<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV2 /Length 16 >> >> /Filter /Standard /Length 128 /O <0ba3835f88f90388e74e54584125ce142be0de24c6b0d37746e075b891756671> /P -4 /R 4 /StmF /StdCF /StrF /StdCF /U <763f954d16622015ee88b60b3eb8f7590122456a91bae5134273a6db134c87c4> /V 4 >>",
    stream: &[
        "0152e1428b09d834c3b0b35d402fffd2374ddc44650d1e8dc22ae39fc52859aa65cf1a75e1e355dca304357b",
        "57a80e324b6df6eb95a924bda07395ad0fc1991e454ac3d8bb15fc7000b5485ab7a15e09",
    ],
    title: &[
        "1edba793089b9aee992be981c4c4322cccc4a72ca22b1b7bbc5716ce5e2a5089",
    ],
};
/// user password "user", `256`.
const USER6: Vector = Vector {
    dict: b"<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV3 /Length 32 >> >> /Filter /Standard /Length 256 /O <cd82cfde31651cc3968c2b15d2089dc0d4eb4adbb10afea5745190caf5aa8750ca8078c068a13d7876a7753a81835b53> /OE <e474bb6552a6b1ef51ba72f5390f0568d983bc443e7f883c2f7a3af2e16facef> /P -4 /Perms <6d6be3d5a421265b838bed9ff8502fa6> /R 6 /StmF /StdCF /StrF /StdCF /U <4c794d0acba61b956accac355dc789d6df106faad999465d9161aa42e53b76ce269c85404a1473f2756d42a88c7eabeb> /UE <ebee044cac89de733da2aaff8b4ce26f0f313a94064c3f5297e193dcfb6ad0f0> /V 5 >>",
    stream: &[
        "111a9161bc55140e0d5d0606861d5db82b25fdcb9036e0281dedaaa8ab23a7983afe6b7d3c79304e378cc779",
        "a294d76043023017e4a5bcc49bb2cefb43443686ac2e1dc59a21ef67046ccf3a0ab23dae",
    ],
    title: &[
        "6930b7734e0c6e86e9f0a9dd7b7d46240906b2c6a90caba6d7f2d75a80dfc192",
    ],
};
/// qpdf 11.3 --object-streams=generate --encrypt "" owner 256: a cross-reference stream.
const R6_XREF_STREAM_PDF: &[&str] = &[
    "255044462d312e370a25bff7a2fe0a312030206f626a0a3c3c202f457874656e73696f6e73203c3c202f4144",
    "4245203c3c202f4261736556657273696f6e202f312e37202f457874656e73696f6e4c6576656c2038203e3e",
    "203e3e202f5061676573203320302052202f54797065202f436174616c6f67203e3e0a656e646f626a0a3220",
    "30206f626a0a3c3c202f54797065202f4f626a53746d202f4c656e67746820313434202f46696c746572202f",
    "466c6174654465636f6465202f4e2033202f4669727374203135203e3e0a73747265616d0af96b84d220f0b3",
    "f272d8640db5990efcfc8ea4790e50dad0c617c996687fa70bf36ba342317c0363106f03a48ff36093ac1d42",
    "25e5ae73e732221034ef98822958ee7a8220dfaf138bfca83074f7ebd03a6312745ab88a6641665a20507369",
    "53bae65ee3887bc627b6864a0d783ded116f48d713ecd1cd9e15ddb91fe1c2cdb99013fcead2a7104add2262",
    "822f0a5ca3656e6473747265616d0a656e646f626a0a362030206f626a0a3c3c202f4c656e67746820383020",
    "3e3e0a73747265616d0a0709d0d70400e4b9ebd1fb1dc0168920e7ba66a2c32e0f893c042583c6d9a1882476",
    "f6b2867ec49c90aafaf2b80790c7dec18154a6533ec7f79ace1c9cbd85959a30f1e030428862eb9136e3f653",
    "3ce9656e6473747265616d0a656e646f626a0a372030206f626a0a3c3c202f4346203c3c202f537464434620",
    "3c3c202f417574684576656e74202f446f634f70656e202f43464d202f4145535633202f4c656e6774682033",
    "32203e3e203e3e202f46696c746572202f5374616e64617264202f4c656e67746820323536202f4f203c6237",
    "6431386163373130333062353234323336653230343934306435316339623065313864343830313330386162",
    "3666303561373061646234306331386139656361623232336661356361303865316132626463393537636332",
    "6235373136333e202f4f45203c32653130323436653230626266393839643731643333393762376363656536",
    "6163313438656531633838646137333834633635623866363965396162333630303e202f50202d34202f5065",
    "726d73203c61353035356638386130363937653739323631326363356164336438653963633e202f52203620",
    "2f53746d46202f5374644346202f53747246202f5374644346202f55203c3438316538393235623163646237",
    "6137613737316662636631376162323965656364643065396365333238353532633465353439336463643935",
    "34346538616464383832316438623666396532636639353466663836383132343361386533373e202f554520",
    "3c31653430326236303534613436333632323362633737363763633036613838393262643731303038313338",
    "6231386338626337323163643233613065353832643e202f562035203e3e0a656e646f626a0a382030206f62",
    "6a0a3c3c202f54797065202f58526566202f4c656e677468203430202f46696c746572202f466c6174654465",
    "636f6465202f4465636f64655061726d73203c3c202f436f6c756d6e732034202f507265646963746f722031",
    "32203e3e202f57205b203120322031205d202f496e666f203520302052202f526f6f74203120302052202f53",
    "697a652039202f4944205b3c3331343135393236353335383937393332333834363236343333383332373935",
    "3e3c33313431353932363533353839373933323338343632363433333833323739353e5d202f456e63727970",
    "74203720302052203e3e0a73747265616d0a789c636200022646067e062606866210ab01c462608410ff194b",
    "fe01598d403166650600429204320a656e6473747265616d0a656e646f626a0a7374617274787265660a3130",
    "35300a2525454f460a",
];

const OPENS: [(&str, Vector); 7] = [
    ("R2", R2),
    ("R3", R3),
    ("R4RC4", R4RC4),
    ("R4AES", R4AES),
    ("R4CLEAR", R4CLEAR),
    ("R5", R5),
    ("R6", R6),
];

fn check_opens(name: &str, dict: &[u8], v: &Vector) {
    let key = empty_password(dict, &id()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        key.decrypt(5, 0, &unhex(v.stream)).unwrap(),
        CONTENT,
        "{name} stream"
    );
    assert_eq!(
        key.decrypt_string(2, 0, &unhex(v.title)).unwrap(),
        TITLE,
        "{name} string"
    );
    assert_eq!(
        key.decrypt_embedded(5, 0, &unhex(v.stream)).unwrap(),
        CONTENT,
        "{name} /EFF"
    );
}

#[test]
fn every_revision_opens_with_the_empty_password() {
    for (name, v) in &OPENS {
        check_opens(name, v.dict, v);
    }
}

#[test]
fn methods_and_metadata_are_read() {
    let key = |v: &Vector| empty_password(v.dict, &id()).unwrap();
    assert_eq!((key(&R2).file.len(), key(&R2).streams), (5, Method::Rc4));
    assert_eq!((key(&R3).file.len(), key(&R3).strings), (16, Method::Rc4));
    assert_eq!(key(&R4RC4).streams, Method::Rc4);
    assert_eq!(key(&R4AES).streams, Method::AesV2);
    assert_eq!((key(&R6).file.len(), key(&R6).streams), (32, Method::AesV3));
    assert!(key(&R4AES).encrypts_metadata());
    assert!(!key(&R4CLEAR).encrypts_metadata());
}

#[test]
fn identity_filters_and_filter_key_lengths() {
    let edit = |v: &Vector, from: &str, to: &str| String::from_utf8_lossy(v.dict).replace(from, to);
    // /StmF /Identity: streams pass through while strings are still decrypted.
    let dict = edit(&R4AES, "/StmF /StdCF", "/StmF /Identity");
    let key = empty_password(dict.as_bytes(), &id()).unwrap();
    assert_eq!(key.decrypt(5, 0, CONTENT).unwrap(), CONTENT);
    assert_eq!(
        key.decrypt_string(2, 0, &unhex(R4AES.title)).unwrap(),
        TITLE
    );
    // No top-level /Length in V4: the crypt filter's /Length 16 is read as bytes.
    let dict = edit(&R4RC4, "/Length 128 ", "");
    check_opens("R4RC4 without /Length", dict.as_bytes(), &R4RC4);
    // An /EFF of its own.
    let dict = edit(&R4AES, "/StmF", "/EFF /Identity /StmF");
    let key = empty_password(dict.as_bytes(), &id()).unwrap();
    assert_eq!(key.decrypt_embedded(5, 0, CONTENT).unwrap(), CONTENT);
    assert_eq!(key.decrypt(5, 0, &unhex(R4AES.stream)).unwrap(), CONTENT);
}

#[test]
fn a_user_password_is_reported() {
    for v in [&USER2, &USER4, &USER6] {
        let err = empty_password(v.dict, &id()).unwrap_err();
        assert!(err.contains("user password"), "{err}");
    }
    // The right dictionary with a wrong /ID does not open either (R2-R4 hash the /ID).
    let err = empty_password(R4AES.dict, b"another id").unwrap_err();
    assert!(err.contains("user password"), "{err}");
}

#[test]
fn other_handlers_and_versions_are_refused() {
    let err = |d: &[u8]| empty_password(d, b"").unwrap_err();
    assert!(err(b"<< /Filter /Adobe.PubSec /V 4 /R 4 >>").contains("/Adobe.PubSec"));
    assert!(err(b"<< /Filter /Standard /V 4 /R 7 /StmF /Identity >>").contains("/R 7"));
    assert!(err(b"<< /Filter /Standard /V 3 /R 3 >>").contains("/V 3"));
    assert!(err(b"<< /V 1 /R 2 >>").contains("/Filter"));
    assert!(err(b"<< /Filter /Standard /V 4 /R 4 /StmF /X >>").contains("/X"));
    assert!(
        err(b"<< /Filter /Standard /V 4 /R 4 /StmF /X /CF << /X << /CFM /Foo >> >> >>")
            .contains("/Foo")
    );
    assert!(err(b"<< /Filter /Standard /V 1 /R 2 /O (short) /U () /P -4 >>").contains("/O"));
    assert!(err(b"<< /Filter /Standard (unclosed").contains("malformed"));
    assert!(err(b"").contains("missing"));
}

/// Writes bytes as a literal string with every kind of escape the syntax has.
fn literal(bytes: &[u8]) -> Vec<u8> {
    let mut out = b"(".to_vec();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' | b')' | b'\\' => out.extend([b'\\', b]),
            b'\n' => out.extend(b"\\n"),
            b'\r' => out.extend(b"\\r"),
            0x20..=0x7E => out.push(b),
            _ if i % 3 == 0 => out.extend(format!("\\{b:03o}").bytes()),
            _ if i % 3 == 1 => out.extend(format!("\\{b:o}\\\r\n").bytes()),
            _ => out.push(b),
        }
    }
    out.push(b')');
    out
}

/// The dictionary with every hexadecimal string written as a literal one.
fn with_literal_strings(dict: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = dict;
    while let Some(at) = rest.iter().position(|&c| c == b'<') {
        let hex_len = rest[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if hex_len == 0 || rest.get(at + 1 + hex_len) != Some(&b'>') {
            out.extend(&rest[..=at]);
            rest = &rest[at + 1..];
            continue;
        }
        out.extend(&rest[..at]);
        out.extend(literal(&unhex(&[std::str::from_utf8(
            &rest[at + 1..at + 1 + hex_len],
        )
        .unwrap()])));
        rest = &rest[at + 2 + hex_len..];
    }
    out.extend(rest);
    out
}

#[test]
fn literal_strings_and_bare_bodies_are_read() {
    for (name, v) in &OPENS {
        let lit = with_literal_strings(v.dict);
        assert!(
            !lit.windows(3).any(|w| w == b" <5" || w == b" <e"),
            "{name}"
        );
        check_opens(name, &lit, v);
        let body = v
            .dict
            .strip_prefix(b"<<")
            .unwrap()
            .strip_suffix(b">>")
            .unwrap();
        check_opens(name, body, v);
    }
}

#[test]
fn literal_escapes() {
    let d = parse_dict_text(b"/A (a\\n\\r\\t\\b\\f\\(\\)\\\\\\q(x)\\101\\7\\0123\\\nb\r\nc\rd)")
        .unwrap();
    assert_eq!(
        d.string(b"A").unwrap(),
        b"a\n\r\t\x08\x0c()\\q(x)A\x07\n3b\nc\nd"
    );
    let d = parse_dict_text(b"<</H<4 1a\n4>/N/A#42#zz/R 12 0 R%c\n/T true/I -7/X 1.5>>").unwrap();
    assert_eq!(d.string(b"H").unwrap(), b"\x41\xa4");
    assert_eq!(d.name(b"N").unwrap(), b"AB#zz");
    assert_eq!(d.get(b"R"), Some(&Obj::Ref(12, 0)));
    assert_eq!(d.get(b"T"), Some(&Obj::Bool(true)));
    assert_eq!(d.int(b"I"), Some(-7));
    assert_eq!(d.get(b"X"), Some(&Obj::Other));
    assert!(parse_dict_text(b"<< /H <4g> >>").is_none());
}

#[test]
fn rc4_and_aes_edges() {
    assert_eq!(rc4(b"Key", b"Plaintext"), unhex(&["bbf316e8d940af0ad3"]));
    let key = [7u8; 16];
    assert_eq!(aes_cbc_decrypt(&key, &[]).unwrap(), b"");
    assert!(aes_cbc_decrypt(&key, &[1; 15]).is_err());
    assert_eq!(aes_cbc_decrypt(&key, &[1; 16]).unwrap(), b"");
    // One whole block after the IV; the partial one is dropped.
    assert!(aes_cbc_decrypt(&key, &[1; 40]).unwrap().len() <= 16);
    assert!(aes_cbc_decrypt(&[0; 5], &[1; 32]).is_err());
}

fn r6_xref_stream_pdf() -> Vec<u8> {
    unhex(R6_XREF_STREAM_PDF)
}

/// The stream data of object `num` 0 in a PDF whose streams have a direct /Length.
fn stream_of(pdf: &[u8], num: u32) -> Option<Vec<u8>> {
    let at = (0..pdf.len())
        .find(|&at| pdf[at..].starts_with(b"obj") && object_header(pdf, at) == Some((num, 0)))?;
    let (skip, d) = dict_at(pdf, at + 3)?;
    let after = at + 3 + skip + d.end;
    let mut p = Parser { b: pdf, pos: after };
    p.skip_space();
    let start = p.pos + b"stream".len();
    let start = start + if pdf.get(start) == Some(&b'\r') { 2 } else { 1 };
    let len = usize::try_from(d.int(b"Length")?).ok()?;
    pdf.get(start..start + len).map(<[u8]>::to_vec)
}

#[test]
fn find_encryption_in_a_cross_reference_stream() {
    let pdf = r6_xref_stream_pdf();
    let (dict, found_id) = find_encryption(&pdf).unwrap();
    assert!(dict.starts_with(b"<< /CF") && dict.ends_with(b">>"));
    assert_eq!(found_id, id());
    let key = empty_password(&dict, &found_id).unwrap();
    let num = (1..10)
        .find(|&n| stream_of(&pdf, n).is_some_and(|s| s.len() == 80))
        .unwrap();
    assert_eq!(
        key.decrypt(num, 0, &stream_of(&pdf, num).unwrap()).unwrap(),
        CONTENT
    );
}

#[test]
fn find_encryption_in_trailers() {
    let trailer = |enc: &str| format!("trailer\n<< /Size 7 /ID [<{ID}><00>] /Encrypt {enc} >>\n");
    let obj6 = [b"%PDF-1.4\n6 0 obj\n".as_slice(), R3.dict, b"\nendobj\n"].concat();
    let classic = [obj6.as_slice(), trailer("6 0 R").as_bytes()].concat();
    assert_eq!(find_encryption(&classic).unwrap(), (R3.dict.to_vec(), id()));
    // An update that redefines object 6 and a later trailer: the latest ones win.
    let update = [
        b"16 0 obj 1 endobj\n6 0 obj".as_slice(),
        R4AES.dict,
        b"endobj\n",
    ]
    .concat();
    let updated = [
        classic.as_slice(),
        &update,
        b"trailer<</Prev 9/Encrypt 6 0 R>>",
    ]
    .concat();
    assert_eq!(
        find_encryption(&updated).unwrap(),
        (R4AES.dict.to_vec(), id())
    );
    // A direct dictionary.
    let direct = trailer(std::str::from_utf8(R2.dict).unwrap());
    assert_eq!(
        find_encryption(direct.as_bytes()).unwrap(),
        (R2.dict.to_vec(), id())
    );
    // An /Encrypt whose object is missing still says the file is encrypted.
    let (dict, _) = find_encryption(trailer("9 0 R").as_bytes()).unwrap();
    assert!(
        empty_password(&dict, &id())
            .unwrap_err()
            .contains("malformed")
    );
    assert!(find_encryption(b"%PDF-1.4\ntrailer\n<< /Size 1 /ID [<00><00>] >>").is_none());
    assert!(find_encryption(b"").is_none());
}

#[test]
fn plain_clamav_sample_is_not_encrypted() {
    let Ok(pdf) = std::fs::read("/usr/share/clamav-testfiles/clam.pdf") else {
        return;
    };
    assert!(find_encryption(&pdf).is_none());
}

/// Feeds bytes to every entry point; only panics and slowness would show.
fn exercise(bytes: &[u8]) {
    if let Ok(key) = empty_password(bytes, &id()) {
        let _ = key.decrypt(5, 0, bytes);
        let _ = key.decrypt_string(u32::MAX, u16::MAX, bytes);
    }
    if let Some((dict, found_id)) = find_encryption(bytes) {
        let _ = empty_password(&dict, &found_id);
    }
}

#[test]
fn truncations_never_panic() {
    within(Duration::from_secs(60), || {
        for (_, v) in &OPENS {
            for end in 0..=v.dict.len() {
                exercise(&v.dict[..end]);
            }
        }
        let pdf = r6_xref_stream_pdf();
        for end in (0..=pdf.len()).step_by(7) {
            let _ = find_encryption(&pdf[..end]);
            let _ = find_encryption(&pdf[end..]);
        }
    });
}

#[test]
fn mutations_never_panic() {
    let mut sources: Vec<Vec<u8>> = [R2, R3, R4RC4, R4AES, R4CLEAR, R6]
        .iter()
        .map(|v| v.dict.to_vec())
        .collect();
    sources.push(r6_xref_stream_pdf());
    let edit = |rng: &mut XorShift, bytes: &mut Vec<u8>, _| {
        for _ in 0..1 + rng.below(8) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] ^= 1 << rng.below(8),
                1 => bytes[at] = b"<>()[]/\\0 R"[rng.below(11)],
                2 => bytes.truncate(at),
                _ => bytes.insert(at, rng.byte()),
            }
        }
    };
    within(Duration::from_secs(120), || {
        mutations(&sources, GOLDEN, 3000, edit, exercise);
    });
}

#[test]
fn huge_claims_and_deep_nesting_stop() {
    let deep = [b"<< /A ".repeat(100_000), b"1".to_vec()].concat();
    assert!(
        empty_password(&deep, b"")
            .unwrap_err()
            .contains("malformed")
    );
    let deep = [b"trailer ".as_slice(), &b"[".repeat(100_000)].concat();
    assert!(find_encryption(&deep).is_none());
    // A /Length beyond 128 bits is cut to 16 bytes, as the key is an MD5.
    let huge = String::from_utf8_lossy(R3.dict).replace("/Length 128", "/Length 99999999999");
    assert_eq!(
        empty_password(huge.as_bytes(), &id()).unwrap().file.len(),
        16
    );
    let many = b"trailer<</Encrypt 1 0 R>> 1 0 obj ".repeat(20_000);
    let started = Instant::now();
    let _ = find_encryption(&many);
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// The real check: ClamAV's clam.pdf encrypted by qpdf in each mode decrypts to the same
/// streams qpdf's own --decrypt writes. Skipped when qpdf or the sample is absent.
#[test]
fn clam_pdf_encrypted_by_qpdf() {
    let sample = "/usr/share/clamav-testfiles/clam.pdf";
    let qpdf = |args: &[&str]| std::process::Command::new("qpdf").args(args).status();
    if !std::path::Path::new(sample).exists() || qpdf(&["--version"]).is_err() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pdf_crypt_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (enc, dec) = (dir.join("enc.pdf"), dir.join("dec.pdf"));
    let (enc, dec) = (enc.to_str().unwrap(), dec.to_str().unwrap());
    let common = [
        "--allow-weak-crypto",
        "--object-streams=disable",
        "--stream-data=preserve",
    ];
    for mode in [
        &["40"][..],
        &["128", "--use-aes=n"],
        &["128", "--use-aes=y"],
        &["256"],
    ] {
        let args = [
            &common[..],
            &["--encrypt", "", "owner"],
            mode,
            &["--", sample, enc],
        ]
        .concat();
        assert!(matches!(qpdf(&args).unwrap().code(), Some(0 | 3)));
        let decrypted = qpdf(&[&common[..], &["--decrypt", enc, dec]].concat()).unwrap();
        assert!(matches!(decrypted.code(), Some(0 | 3)));
        let (enc_pdf, dec_pdf) = (std::fs::read(enc).unwrap(), std::fs::read(dec).unwrap());
        let (dict, found_id) = find_encryption(&enc_pdf).unwrap();
        let key = empty_password(&dict, &found_id).unwrap();
        let mut seen = 0;
        for num in 1..40 {
            let (Some(secret), Some(clear)) = (stream_of(&enc_pdf, num), stream_of(&dec_pdf, num))
            else {
                continue;
            };
            assert_eq!(
                key.decrypt(num, 0, &secret).unwrap(),
                clear,
                "{mode:?} object {num}"
            );
            seen += 1;
        }
        assert!(seen >= 3, "{mode:?}: {seen} streams");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A whole document encrypted as `v` (RC4, whose encryption is its decryption) holding `data`
/// as object 9's stream.
fn rc4_document(v: &Vector, data: &[u8]) -> Vec<u8> {
    let key = empty_password(v.dict, &id()).expect("the vector opens");
    let sealed = key.decrypt(9, 0, data).expect("RC4 encrypts");
    [
        b"%PDF-1.4\n1 0 obj\n".as_slice(),
        v.dict,
        b"\nendobj\n9 0 obj\n<< /Type /EmbeddedFile /Length ",
        sealed.len().to_string().as_bytes(),
        b" >>\nstream\n",
        &sealed,
        b"\nendstream\nendobj\ntrailer\n<< /Encrypt 1 0 R /ID [<",
        ID.as_bytes(),
        b"> <",
        ID.as_bytes(),
        b">] >>\n%%EOF\n",
    ]
    .concat()
}

#[test]
fn eicar_in_a_document_encrypted_with_an_empty_password_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look, unscannable_reason};
    for v in [&R2, &R3, &R4RC4] {
        let pdf = rc4_document(v, EICAR);
        let found = look(&pdf, "locked.pdf", &limits());
        assert_eq!(
            labels(&found),
            ["locked.pdf>obj9.bin:EICAR_Test_File"],
            "{found:?}"
        );
    }
    // A document that needs a user password stays one encrypted member.
    let pdf = rc4_document(&R2, EICAR);
    let needs_password = String::from_utf8_lossy(&pdf).replace(
        std::str::from_utf8(R2.dict).unwrap(),
        std::str::from_utf8(USER2.dict).unwrap(),
    );
    let why = unscannable_reason(look(needs_password.as_bytes(), "user.pdf", &limits()));
    assert!(
        why.contains("encrypted member user.pdf>(encrypted streams)"),
        "{why}"
    );
}
