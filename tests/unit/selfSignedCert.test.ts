/**
 * The loopback certificate is valid DER every time: its serial number is random, and a random value with a leading
 * zero byte once made one certificate in 128 unreadable to OpenSSL ("illegal padding"), failing a CI run.
 */
import * as assert from "assert";
import * as tls from "tls";
import { integer, makeSelfSignedCert } from "../../devenv/selfSignedCert";

describe("the self-signed loopback certificate", () => {
  it("encodes every integer minimally: a leading zero only where the next byte's high bit needs it", () => {
    const hex = (b: number[]) => integer(Buffer.from(b)).toString("hex");
    assert.strictEqual(hex([0x00, 0x01, 0x02]), "02020102");
    assert.strictEqual(hex([0x00, 0x00, 0x7f]), "02017f");
    assert.strictEqual(hex([0x00, 0x80]), "02020080");
    assert.strictEqual(hex([0x80, 0x01]), "0203008001");
    assert.strictEqual(hex([0x00]), "020100");
  });

  it("OpenSSL reads every one of 300 fresh certificates and their keys", () => {
    for (let i = 0; i < 300; i++) {
      const c = makeSelfSignedCert();
      assert.doesNotThrow(() => tls.createSecureContext({ key: c.key, cert: c.cert }), `certificate ${i}`);
    }
  });
});
