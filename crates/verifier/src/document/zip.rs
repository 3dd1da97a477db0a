//! ZIP: a consistent archive whose extraction is safe and bounded.
//!
//! The archive is opened with the `zip` crate, which validates the
//! end-of-central-directory record and the central directory, and checks each
//! local header against its central entry. A file that starts like a ZIP but
//! has no valid central directory is corrupt. On top of that:
//!
//! * The entry count declared by the end record is checked *before* the
//!   central directory is read, so a tiny file claiming millions of entries
//!   cannot make us allocate for them.
//! * Entry names are refused (unsafe) when absolute (`/x`, `\x`, `C:x`),
//!   containing a `..` component or a NUL, in the central directory *and* in
//!   the local header (the name streaming extractors use). Symlink entries are
//!   refused too: extracted, they can redirect later entries outside the
//!   target directory.
//! * Zip bombs are refused on the declared sizes (total uncompressed size,
//!   uncompressed/compressed ratio per entry and overall, ignored for less
//!   than 1 MiB, which cannot be a bomb) and then every entry is actually
//!   inflated to a sink, capped at its declared size, with its CRC checked,
//!   so a lying header cannot pass: data that disagrees with its header is
//!   corrupt.
//! * Entries that cannot be verified (encrypted, or a compression method
//!   other than stored/deflate) are refused as unsafe.
//!
//! The archive must start at offset 0 (no prepended data, no polyglots).

use std::io::{self, BufReader, Read, Seek, SeekFrom};

use memchr::memmem;
use zip::ZipArchive;
use zip::read::{ArchiveOffset, Config};
use zip::result::ZipError;

use crate::{Limits, Rejection};

const LOCAL_HEADER: &[u8; 4] = b"PK\x03\x04";
const END_RECORD: &[u8; 4] = b"PK\x05\x06";
const ZIP64_LOCATOR: &[u8; 4] = b"PK\x06\x07";
const ZIP64_END_RECORD: &[u8; 4] = b"PK\x06\x06";
const END_RECORD_LEN: usize = 22;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_END_RECORD_LEN: usize = 56;
const MAX_COMMENT_LEN: usize = 0xFFFF;
const LOCAL_HEADER_LEN: usize = 30;
/// Below this uncompressed size the ratio is not checked: small, very
/// repetitive files (a CSV of zeros) compress well without being bombs.
const RATIO_FLOOR: u64 = 1 << 20;

pub(super) fn check<R: Read + Seek>(reader: R, limits: &Limits) -> Result<(), Rejection> {
    let mut reader = BufReader::new(reader);
    let mut magic = [0u8; 4];
    reader
        .read_exact(&mut magic)
        .map_err(|_| Rejection::corrupt("the file is too short to be a ZIP archive"))?;
    if &magic != LOCAL_HEADER && &magic != END_RECORD {
        return Err(Rejection::corrupt("the ZIP archive does not start with a ZIP header"));
    }
    if let Some(declared) = declared_entries(&mut reader).map_err(|e| super::read_error(&e))? {
        check_entry_count(declared, limits)?;
    }
    reader.seek(SeekFrom::Start(0)).map_err(|e| super::read_error(&e))?;

    let config = Config {
        archive_offset: ArchiveOffset::Known(0),
    };
    let mut archive = ZipArchive::with_config(config, reader).map_err(zip_rejection)?;
    check_entry_count(archive.len() as u64, limits)?;
    let header_starts = check_entries(&mut archive, limits)?;
    for index in 0..archive.len() {
        inflate_entry(&mut archive, index)?;
    }
    let mut reader = archive.into_inner();
    for start in header_starts {
        let name = local_name(&mut reader, start).map_err(|e| super::read_error(&e))?;
        if unsafe_name(&name) {
            return Err(Rejection::unsafe_content(
                "a ZIP entry has an absolute or parent-directory path",
            ));
        }
    }
    Ok(())
}

fn check_entry_count(entries: u64, limits: &Limits) -> Result<(), Rejection> {
    if entries > limits.zip_max_entries as u64 {
        return Err(Rejection::unsafe_content(format!(
            "the ZIP archive has {entries} entries, more than the {} allowed",
            limits.zip_max_entries
        )));
    }
    Ok(())
}

/// Names, kinds and declared sizes of every entry; returns where each local
/// header starts.
fn check_entries<R: Read + Seek>(archive: &mut ZipArchive<R>, limits: &Limits) -> Result<Vec<u64>, Rejection> {
    let mut header_starts = Vec::with_capacity(archive.len());
    let mut total: u64 = 0;
    let mut total_compressed: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(zip_rejection)?;
        if unsafe_name(entry.name_raw()) || entry.enclosed_name().is_none() {
            return Err(Rejection::unsafe_content(
                "a ZIP entry has an absolute or parent-directory path",
            ));
        }
        if entry.is_symlink() {
            return Err(Rejection::unsafe_content("the ZIP archive contains a symbolic link"));
        }
        if entry.encrypted() {
            return Err(Rejection::unsafe_content(
                "the ZIP archive has encrypted entries, which cannot be verified",
            ));
        }
        let (size, compressed) = (entry.size(), entry.compressed_size());
        if is_bomb_ratio(size, compressed, limits) {
            return Err(bomb(format!("an entry expands {}x", size / compressed.max(1))));
        }
        total = total.saturating_add(size);
        total_compressed = total_compressed.saturating_add(compressed);
        if total > limits.zip_max_uncompressed {
            return Err(bomb(format!(
                "it expands to more than {} bytes",
                limits.zip_max_uncompressed
            )));
        }
        header_starts.push(entry.header_start());
    }
    if is_bomb_ratio(total, total_compressed, limits) {
        return Err(bomb(format!(
            "the archive expands {}x",
            total / total_compressed.max(1)
        )));
    }
    Ok(header_starts)
}

fn is_bomb_ratio(size: u64, compressed: u64, limits: &Limits) -> bool {
    size >= RATIO_FLOOR && size > compressed.saturating_mul(limits.zip_max_ratio)
}

fn bomb(why: String) -> Rejection {
    Rejection::unsafe_content(format!("the ZIP archive looks like a zip bomb: {why}"))
}

/// Inflates one entry to a sink, never more than its declared size (+1 to
/// notice a lie), and lets the `zip` crate check the CRC at the end.
fn inflate_entry<R: Read + Seek>(archive: &mut ZipArchive<R>, index: usize) -> Result<(), Rejection> {
    let mut entry = archive.by_index(index).map_err(zip_rejection)?;
    let declared = entry.size();
    let inflated = io::copy(&mut (&mut entry).take(declared.saturating_add(1)), &mut io::sink())
        .map_err(|e| Rejection::corrupt(format!("a ZIP entry does not match its header: {e}")))?;
    if inflated != declared {
        return Err(Rejection::corrupt(
            "a ZIP entry's data does not match its declared size",
        ));
    }
    Ok(())
}

fn zip_rejection(error: ZipError) -> Rejection {
    match error {
        ZipError::UnsupportedArchive(why) => {
            Rejection::unsafe_content(format!("the ZIP archive cannot be verified: {why}"))
        }
        ZipError::CompressionMethodNotSupported(method) => Rejection::unsafe_content(format!(
            "the ZIP archive uses compression method {method}, which cannot be verified"
        )),
        other => Rejection::corrupt(format!("the ZIP archive is invalid: {other}")),
    }
}

/// Absolute paths, drive letters, `..` components and NULs, with either
/// separator (Windows extractors accept `\`).
fn unsafe_name(name: &[u8]) -> bool {
    let absolute = matches!(name.first(), Some(b'/' | b'\\'));
    let drive = matches!(name, [letter, b':', ..] if letter.is_ascii_alphabetic());
    let parent = name.split(|&b| b == b'/' || b == b'\\').any(|part| part == b"..");
    absolute || drive || parent || name.contains(&0)
}

/// The entry count the (last) end-of-central-directory record declares,
/// following the ZIP64 locator when the classic field is saturated.
fn declared_entries<R: Read + Seek>(reader: &mut R) -> io::Result<Option<u64>> {
    let len = reader.seek(SeekFrom::End(0))?;
    let tail_len = len.min((ZIP64_LOCATOR_LEN + END_RECORD_LEN + MAX_COMMENT_LEN) as u64);
    reader.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    reader.take(tail_len).read_to_end(&mut tail)?;
    let Some(end) = memmem::rfind_iter(&tail, END_RECORD).find(|&at| at + END_RECORD_LEN <= tail.len()) else {
        return Ok(None);
    };
    let entries = u16::from_le_bytes([tail[end + 10], tail[end + 11]]);
    if entries != u16::MAX {
        return Ok(Some(u64::from(entries)));
    }
    let Some(locator) = end.checked_sub(ZIP64_LOCATOR_LEN).and_then(|at| tail.get(at..end)) else {
        return Ok(None);
    };
    if !locator.starts_with(ZIP64_LOCATOR) {
        return Ok(None);
    }
    let offset = u64::from_le_bytes(locator[8..16].try_into().unwrap_or_default());
    if offset.checked_add(ZIP64_END_RECORD_LEN as u64).is_none_or(|e| e > len) {
        return Ok(None);
    }
    reader.seek(SeekFrom::Start(offset))?;
    let mut record = [0u8; ZIP64_END_RECORD_LEN];
    reader.read_exact(&mut record)?;
    if !record.starts_with(ZIP64_END_RECORD) {
        return Ok(None);
    }
    Ok(Some(u64::from_le_bytes(record[32..40].try_into().unwrap_or_default())))
}

/// The file name stored in the local header at `start`.
fn local_name<R: Read + Seek>(reader: &mut R, start: u64) -> io::Result<Vec<u8>> {
    reader.seek(SeekFrom::Start(start))?;
    let mut header = [0u8; LOCAL_HEADER_LEN];
    reader.read_exact(&mut header)?;
    let name_len = usize::from(u16::from_le_bytes([header[26], header[27]]));
    let mut name = vec![0u8; name_len];
    reader.read_exact(&mut name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names() {
        for bad in [
            &b"../x"[..],
            b"a/../../x",
            b"a\\..\\x",
            b"/etc/passwd",
            b"\\x",
            b"C:x",
            b"c:\\x",
            b"..",
            b"a\0b",
        ] {
            assert!(unsafe_name(bad), "{bad:?}");
        }
        for good in [&b"a/b.txt"[..], b"a..b", b"...", b"dir/", b"12:00.csv"] {
            assert!(!unsafe_name(good), "{good:?}");
        }
    }

    #[test]
    fn ratio_is_ignored_below_the_floor() {
        let limits = Limits::default();
        assert!(!is_bomb_ratio(RATIO_FLOOR - 1, 1, &limits));
        assert!(is_bomb_ratio(RATIO_FLOOR, 1, &limits));
        assert!(!is_bomb_ratio(RATIO_FLOOR, RATIO_FLOOR / 100 + 1, &limits));
        assert!(is_bomb_ratio(u64::MAX, 0, &limits));
    }
}
