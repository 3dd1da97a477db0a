// Minimal JPEG inspection for the tests: the header segments up to the scan.

const EXIF_HEADER = Buffer.from("Exif\0\0", "latin1");
const GPS_IFD_TAG = 0x8825;

/** The marker segments before the first SOS: [{ marker, data }]. */
export function jpegSegments(bytes) {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new Error("not a JPEG (no SOI)");
  const segments = [];
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) throw new Error(`bad marker at ${offset}`);
    const marker = bytes[offset + 1];
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    const length = bytes.readUInt16BE(offset + 2);
    segments.push({ marker, data: bytes.subarray(offset + 4, offset + 2 + length) });
    if (marker === 0xda) break; // SOS: entropy-coded data follows
    offset += 2 + length;
  }
  return segments;
}

/** APP1 segments that carry EXIF. */
export function exifSegments(bytes) {
  return jpegSegments(bytes).filter((s) => s.marker === 0xe1 && s.data.subarray(0, 6).equals(EXIF_HEADER));
}

/** Whether an EXIF segment's IFD0 points at a GPS IFD (tag 0x8825). */
export function hasGpsIfd(exifData) {
  const tiff = exifData.subarray(6);
  const little = tiff.toString("latin1", 0, 2) === "II";
  const u16 = (at) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at) => (little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd0 = u32(4);
  const count = u16(ifd0);
  for (let i = 0; i < count; i++) {
    if (u16(ifd0 + 2 + i * 12) === GPS_IFD_TAG) return true;
  }
  return false;
}

/** Whether the bytes carry EXIF anywhere (header segments, or the marker text at all). */
export function containsExif(bytes) {
  return exifSegments(bytes).length > 0 || bytes.includes(EXIF_HEADER);
}
