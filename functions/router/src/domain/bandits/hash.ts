/** Stable, platform-independent 32-bit hashes (feature hashing, deterministic seeds). */

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text` (lone surrogates as U+FFFD, as TextEncoder does). */
export const fnv1a32 = (text: string): number => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      hash = Math.imul(hash ^ code, 0x01000193);
      continue;
    }
    if (code < 0x800) {
      hash = Math.imul(hash ^ (0xc0 | (code >> 6)), 0x01000193);
      hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), 0x01000193);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i += 1;
        hash = Math.imul(hash ^ (0xf0 | (code >> 18)), 0x01000193);
        hash = Math.imul(hash ^ (0x80 | ((code >> 12) & 0x3f)), 0x01000193);
        hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), 0x01000193);
        hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), 0x01000193);
        continue;
      }
      code = 0xfffd;
    }
    hash = Math.imul(hash ^ (0xe0 | (code >> 12)), 0x01000193);
    hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), 0x01000193);
    hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), 0x01000193);
  }
  return hash >>> 0;
};

/** Murmur3's 32-bit finaliser: mixes every bit of h into every bit of the result. */
export const fmix32 = (h: number): number => {
  let x = h >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
};
