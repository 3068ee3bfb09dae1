/**
 * A self-signed TLS certificate for loopback test servers, made with Node's own crypto: an ECDSA P-256 key
 * and an X.509 v3 certificate encoded by hand in DER (no openssl binary, no npm package), valid for
 * `127.0.0.1`, `::1` and `localhost`. Clients trust it as its own root: Go programs (the Databricks provider)
 * through `SSL_CERT_FILE=<certFile>`, Node through the `ca` option. Nothing is ever skip-verified.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

export interface SelfSignedCert {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

/** DER: one tag-length-value. */
function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else if (n < 0x100) len = Buffer.from([0x81, n]);
  else if (n < 0x10000) len = Buffer.from([0x82, n >> 8, n & 0xff]);
  else throw new Error(`DER value too long for this encoder: ${n} bytes`);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const explicit = (n: number, ...c: Buffer[]) => tlv(0xa0 + n, ...c);
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer) => tlv(0x03, Buffer.from([0]), b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const v of rest) {
    const chunk = [v & 0x7f];
    for (let x = v >>> 7; x > 0; x >>>= 7) chunk.unshift((x & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/**
 * DER INTEGER of a big-endian unsigned value, in its one minimal form: no leading zero byte unless the next byte's
 * high bit needs it (OpenSSL 3 refuses any other as "illegal padding").
 */
export function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && !(b[i + 1] & 0x80)) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

/** UTCTime, YYMMDDHHMMSSZ (valid for years 1950 to 2049). */
function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, "0");
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, "ascii"));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

/**
 * Makes a fresh key and a certificate for loopback names, valid from an hour ago for `days` days.
 * It is its own issuer (basicConstraints CA) so that a client can trust exactly this certificate.
 */
export function makeSelfSignedCert(opts: { commonName?: string; days?: number } = {}): SelfSignedCert {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ecdsaWithSha256 = seq(oid("1.2.840.10045.4.3.2"));
  const name = seq(set(seq(oid("2.5.4.3"), utf8(opts.commonName ?? "quant-platform devenv loopback"))));
  const now = Date.now();
  const serial = crypto.randomBytes(16);
  serial[0] &= 0x7f;
  const san = seq(
    tlv(0x87, Buffer.from([127, 0, 0, 1])), // iPAddress 127.0.0.1
    tlv(0x87, Buffer.concat([Buffer.alloc(15), Buffer.from([1])])), // iPAddress ::1
    tlv(0x82, Buffer.from("localhost", "ascii")), // dNSName
  );
  const spki = publicKey.export({ type: "spki", format: "der" });
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ecdsaWithSha256,
    name,
    seq(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + (opts.days ?? 2) * 86400_000))),
    name,
    spki,
    explicit(
      3,
      seq(
        extension("2.5.29.19", true, seq(bool(true))), // basicConstraints CA:TRUE
        extension("2.5.29.15", true, bits(Buffer.from([0x84]))), // keyUsage digitalSignature, keyCertSign
        extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))), // extKeyUsage serverAuth
        extension("2.5.29.17", false, san),
        extension("2.5.29.14", false, octets(crypto.createHash("sha1").update(spki).digest())), // subjectKeyIdentifier
      ),
    ),
  );
  const signature = crypto.sign("sha256", tbs, { key: privateKey, dsaEncoding: "der" });
  const der = seq(tbs, ecdsaWithSha256, bits(signature));
  const b64 = der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n");
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
  };
}

/** Writes the certificate as `<dir>/loopback-ca.pem` (for SSL_CERT_FILE) and returns its path. */
export function writeCertFile(dir: string, cert: SelfSignedCert): string {
  const file = path.join(dir, "loopback-ca.pem");
  fs.writeFileSync(file, cert.cert);
  return file;
}
