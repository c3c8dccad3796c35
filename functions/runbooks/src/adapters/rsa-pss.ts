import { constants, createHash, type KeyObject, privateEncrypt, randomBytes } from 'node:crypto';

const HASH_BYTES = 32;
const SALT_BYTES = 32;

/**
 * RSASSA-PSS-SIGN (RFC 8017 §8.1.1) of a precomputed SHA-256 `digest`, MGF1-SHA-256, 32-byte salt:
 * what KMS `Sign` does with `SigningAlgorithm: 'RSASSA_PSS_SHA_256', MessageType: 'DIGEST'`.
 *
 * node:crypto has no call for it: `crypto.sign(alg, data, …)` always hashes `data` (with `null` it
 * hashes with SHA-256 too), so it can sign the message but not a digest. This is EMSA-PSS-ENCODE
 * (§9.1.1) with `digest` as mHash, then the raw RSA private-key operation (`privateEncrypt` with
 * no padding, which OpenSSL blinds). `crypto.verify('sha256', message, { padding: PSS, saltLength:
 * 32 })` accepts the result for any message whose SHA-256 is `digest`.
 */
export const signDigestRsaPss = (privateKey: KeyObject, digest: Uint8Array): Buffer => {
  if (digest.length !== HASH_BYTES)
    throw new RangeError(`a SHA-256 digest is ${HASH_BYTES} bytes, got ${digest.length}`);
  const modulusBits = privateKey.asymmetricKeyDetails?.modulusLength;
  if (privateKey.asymmetricKeyType !== 'rsa' || privateKey.type !== 'private' || !modulusBits)
    throw new TypeError('an RSA private key is required');
  const emBits = modulusBits - 1;
  const emLength = Math.ceil(emBits / 8);
  const salt = randomBytes(SALT_BYTES);
  const h = createHash('sha256').update(Buffer.alloc(8)).update(digest).update(salt).digest();
  // DB = PS (zeros) || 0x01 || salt, masked with MGF1(H).
  const db = Buffer.alloc(emLength - HASH_BYTES - 1);
  db[db.length - SALT_BYTES - 1] = 0x01;
  salt.copy(db, db.length - SALT_BYTES);
  const mask = mgf1Sha256(h, db.length);
  for (let i = 0; i < db.length; i += 1) db[i] = (db[i] ?? 0) ^ (mask[i] ?? 0);
  db[0] = (db[0] ?? 0) & (0xff >> (8 * emLength - emBits));
  const encoded = Buffer.concat([db, h, Buffer.from([0xbc])]);
  // The RSA input is as long as the modulus: one leading zero byte when emBits is a multiple of 8.
  const modulusBytes = Math.ceil(modulusBits / 8);
  const input = Buffer.concat([Buffer.alloc(modulusBytes - encoded.length), encoded]);
  return privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, input);
};

const mgf1Sha256 = (seed: Buffer, length: number): Buffer => {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0; blocks.length * HASH_BYTES < length; i += 1) {
    counter.writeUInt32BE(i);
    blocks.push(createHash('sha256').update(seed).update(counter).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
};
