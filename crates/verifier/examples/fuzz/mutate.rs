//! Deterministic byte-level mutations.
//!
//! No coverage feedback is available on stable Rust, so mutations are
//! structure-blind but biased towards what breaks parsers. They flip bits,
//! write boundary integers into length fields, cut, duplicate and splice
//! ranges (also from other seeds), and insert the tokens these formats are
//! built from. PNG inputs get their CRCs repaired half of the time, or
//! nearly every mutation would stop at the first CRC check.

/// splitmix64: small, fast, and every seed gives a good stream.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

const INTERESTING: [u64; 24] = [
    0,
    1,
    2,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x3FF,
    0x400,
    0x1000,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    0x10_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
    0x1_0000_0000,
    i64::MAX as u64,
    u64::MAX,
    16,
    100,
];

/// Pieces of the formats under test.
const TOKENS: [&[u8]; 40] = [
    b"stream\n",
    b"\nendstream",
    b"endobj",
    b"<<",
    b">>",
    b"(",
    b")",
    b"\\",
    b"<",
    b">",
    b"[",
    b"%",
    b"/Length 9",
    b"/Length 1 0 R",
    b"/Type /ObjStm /First 4",
    b"/Filter /FlateDecode",
    b"/OpenAction",
    b"/JS",
    b"#4A",
    b"\r\n",
    b"IDAT",
    b"IEND",
    b"acTL",
    b"fcTL",
    b"fdAT",
    b"iCCP",
    b"eXIf",
    b"VP8X",
    b"ANMF",
    b"ANIM",
    b"ICCP",
    b"\xFF\xD8",
    b"\xFF\xDA",
    b"\xFF\xD9",
    b"\xFF\xE1\x00\x10Exif\x00\x00",
    b"PK\x03\x04",
    b"PK\x01\x02",
    b"PK\x05\x06",
    b"\"",
    b"{\"a\":[",
];

/// Applies one to a dozen stacked mutations, keeping at most `max_len`
/// bytes. `others` are the target's seeds, for splicing.
pub fn mutate(data: &mut Vec<u8>, rng: &mut Rng, others: &[Vec<u8>], max_len: usize) {
    let rounds = 1 + rng.below(4) + if rng.below(4) == 0 { rng.below(8) } else { 0 };
    for _ in 0..rounds {
        mutate_once(data, rng, others);
    }
    data.truncate(max_len);
}

fn mutate_once(data: &mut Vec<u8>, rng: &mut Rng, others: &[Vec<u8>]) {
    let len = data.len();
    let at = |rng: &mut Rng| rng.below(len.max(1));
    let span = |rng: &mut Rng, from: usize| 1 + rng.below((len - from).clamp(1, 64));
    match rng.below(12) {
        0 if len > 0 => {
            let i = at(rng);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = at(rng);
            data[i] = rng.byte();
        }
        2 if len > 0 => {
            let i = at(rng);
            data[i] = data[i].wrapping_add(rng.below(33) as u8).wrapping_sub(16);
        }
        3 if len > 0 => {
            let value = INTERESTING[rng.below(INTERESTING.len())];
            let width = [1, 2, 4, 8][rng.below(4)];
            let (le, be) = (value.to_le_bytes(), value.to_be_bytes());
            let bytes = if rng.below(2) == 0 {
                &le[..width]
            } else {
                &be[8 - width..]
            };
            let i = at(rng);
            let end = (i + bytes.len()).min(len);
            data[i..end].copy_from_slice(&bytes[..end - i]);
        }
        4 if len > 0 => {
            let from = at(rng);
            let to = from + span(rng, from);
            data.drain(from..to.min(len));
        }
        5 if len > 0 => {
            let from = at(rng);
            let piece = data[from..(from + span(rng, from)).min(len)].to_vec();
            let to = rng.below(len + 1);
            data.splice(to..to, piece);
        }
        6 => {
            let count = 1 + rng.below(16);
            let fill = rng.byte();
            let piece: Vec<u8> = (0..count)
                .map(|_| if rng.below(2) == 0 { fill } else { rng.byte() })
                .collect();
            let to = rng.below(len + 1);
            data.splice(to..to, piece);
        }
        7 => data.truncate(rng.below(len + 1)),
        8 if !others.is_empty() => {
            let other = &others[rng.below(others.len())];
            let keep = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            data.truncate(keep);
            data.extend_from_slice(&other[from..]);
        }
        9 if !others.is_empty() => {
            let other = &others[rng.below(others.len())];
            if !other.is_empty() {
                let from = rng.below(other.len());
                let piece = &other[from..(from + 1 + rng.below(256)).min(other.len())];
                let to = rng.below(len + 1);
                data.splice(to..to, piece.iter().copied());
            }
        }
        10 if len > 1 => {
            let from = at(rng);
            let count = span(rng, from);
            let to = at(rng);
            let piece = data[from..(from + count).min(len)].to_vec();
            let end = (to + piece.len()).min(len);
            data[to..end].copy_from_slice(&piece[..end - to]);
        }
        _ => {
            let token = TOKENS[rng.below(TOKENS.len())];
            let to = rng.below(len + 1);
            data.splice(to..to, token.iter().copied());
        }
    }
}

/// Recomputes the CRC of every complete PNG chunk.
pub fn fix_png_crcs(data: &mut [u8]) {
    let mut pos = 8;
    while let Some(length) = data.get(pos..pos + 4) {
        let length = u32::from_be_bytes(length.try_into().expect("4 bytes")) as usize;
        let Some(crc_at) = pos.checked_add(8).and_then(|p| p.checked_add(length)) else {
            return;
        };
        if crc_at + 4 > data.len() {
            return;
        }
        let crc = crc32fast::hash(&data[pos + 4..crc_at]);
        data[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
        pos = crc_at + 4;
    }
}
