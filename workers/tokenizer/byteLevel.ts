/**
 * @file GPT-2's byte↔unicode table: byte-level BPE vocabularies store every byte as one printable code point
 * (printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100..U+0143), so token strings are
 * valid text. Every mapped code point is < U+0144, hence one UTF-16 unit per byte: a byte-encoded string's
 * `length` is its byte count, which the BPE code relies on.
 */

/** byte (0..255) → its one-character string. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** UTF-16 code unit (< 0x144) → byte, or -1 where the unit is not a byte-level character. */
const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (t[c.charCodeAt(0)] = b));
  return t;
})();

function buildByteToChar(): string[] {
  const out = new Array<string>(256);
  const direct = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(direct(b) ? b : 256 + n++);
  return out;
}

/** The byte a byte-level character stands for, or -1. */
export function charToByte(code: number): number {
  return code < 0x144 ? CHAR_TO_BYTE[code] : -1;
}

/** UTF-8 bytes → byte-level string (one char per byte). */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/**
 * Byte-level string → bytes. A character outside the table (a vocabulary that stored raw text in a normal
 * token) contributes its own UTF-8 bytes, so decoding stays lossless instead of inventing markers.
 */
export function byteLevelToBytes(s: string): Uint8Array {
  let plain = true;
  for (let i = 0; i < s.length; i++) if (charToByte(s.charCodeAt(i)) < 0) plain = false;
  if (plain) {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = CHAR_TO_BYTE[s.charCodeAt(i)];
    return out;
  }
  const parts: number[] = [];
  const enc = new TextEncoder();
  for (const ch of s) {
    const b = ch.length === 1 ? charToByte(ch.charCodeAt(0)) : -1;
    if (b >= 0) parts.push(b);
    else for (const x of enc.encode(ch)) parts.push(x);
  }
  return Uint8Array.from(parts);
}
