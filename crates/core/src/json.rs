//! JSON text written straight into a byte buffer, for what the sign path
//! writes on every request (the POST policy and the sign reply; issue 15).
//! The output is what `serde_json` writes for the same values, byte for byte:
//! a string without a character to escape is copied in one piece, found by a
//! check that runs 16 bytes at a time; any other string is written by
//! `serde_json` itself.

/// `value` as a JSON string, quoted and escaped.
pub fn push_str(out: &mut Vec<u8>, value: &str) {
    push_joined(out, &[value]);
}

/// The concatenation of `parts` as one JSON string, without building it first.
pub fn push_joined(out: &mut Vec<u8>, parts: &[&str]) {
    if parts.iter().all(|part| needs_no_escape(part.as_bytes())) {
        out.reserve(parts.iter().map(|part| part.len()).sum::<usize>() + 2);
        out.push(b'"');
        for part in parts {
            out.extend_from_slice(part.as_bytes());
        }
        out.push(b'"');
    } else {
        // Writing into a `Vec` cannot fail, and a `str` always serialises.
        let _ = serde_json::to_writer(&mut *out, &parts.concat());
    }
}

/// `"name":` for a member name.
pub fn push_name(out: &mut Vec<u8>, name: &str) {
    push_str(out, name);
    out.push(b':');
}

/// An object of string members, in the iterator's order.
pub fn push_object<'a>(out: &mut Vec<u8>, members: impl IntoIterator<Item = (&'a String, &'a String)>) {
    out.push(b'{');
    for (n, (name, value)) in members.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        push_name(out, name);
        push_str(out, value);
    }
    out.push(b'}');
}

/// A JSON number.
pub fn push_u64(out: &mut Vec<u8>, value: u64) {
    let _ = serde_json::to_writer(&mut *out, &value);
}

/// Whether `serde_json` would copy every byte as it is: no control
/// character, quote or backslash. Sixteen bytes at a time, without an early
/// exit inside a block, so the compiler checks a block in a few vector steps.
fn needs_no_escape(bytes: &[u8]) -> bool {
    let escaped = |b: u8| u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\');
    let (blocks, rest) = bytes.as_chunks::<16>();
    blocks
        .iter()
        .all(|block| block.iter().fold(0, |found, &b| found | escaped(b)) == 0)
        && rest.iter().all(|&b| escaped(b) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let long_plain = "eyJleHBpcmF0aW9uIjoi".repeat(40);
        let cases = [
            "",
            "plain",
            "staging/acme/avatar/0b5c.jpg",
            long_plain.as_str(),
            "quote \" in the middle of a string longer than sixteen bytes",
            "back\\slash",
            "line\nbreak and\ttab and \r and \u{1b}[31m escape",
            "\u{7f} delete, é, 雪, and 😀",
            "exactly sixteen!",
            "exactly sixteen\"",
        ];
        for value in cases {
            let mut ours = Vec::new();
            push_str(&mut ours, value);
            assert_eq!(
                String::from_utf8(ours).expect("utf-8"),
                serde_json::to_string(value).expect("serialises"),
                "{value:?}"
            );
        }
        let mut joined = Vec::new();
        push_joined(&mut joined, &["$", "x-amz-meta-profile"]);
        assert_eq!(joined, b"\"$x-amz-meta-profile\"");
        joined.clear();
        push_joined(&mut joined, &["$", "a\"b"]);
        assert_eq!(joined, br#""$a\"b""#);
        let members = std::collections::BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b\n".to_owned(), "\"2\"".to_owned()),
        ]);
        let mut object = Vec::new();
        push_object(&mut object, &members);
        assert_eq!(object, serde_json::to_vec(&members).expect("serialises"));
        object.clear();
        push_object(&mut object, &std::collections::BTreeMap::new());
        assert_eq!(object, b"{}");
        let mut out = Vec::new();
        push_name(&mut out, "maxBytes");
        push_u64(&mut out, 2_097_152);
        assert_eq!(out, b"\"maxBytes\":2097152");
    }
}
