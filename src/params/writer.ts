/**
 * A growable little-endian write buffer, reused from call to call.
 * @module
 */
export class Writer {
  buf = Buffer.allocUnsafe(16 * 1024);
  at = 0;

  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.at++] = v;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.at);
    this.at += 4;
  }

  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.at);
    this.at += 8;
  }

  /** `u32 length` then the string's UTF-8 bytes. */
  str(s: string): void {
    this.room(4 + s.length * 3);
    const n = this.buf.write(s, this.at + 4);
    this.buf.writeUInt32LE(n, this.at);
    this.at += 4 + n;
  }

  bytes(b: Uint8Array): void {
    this.u32(b.byteLength);
    this.room(b.byteLength);
    this.buf.set(b, this.at);
    this.at += b.byteLength;
  }

  /** Reserves a u32 to fill in later with {@link Writer.patch}; returns its position. */
  hole(): number {
    this.room(4);
    this.at += 4;
    return this.at - 4;
  }

  patch(at: number, v: number): void {
    this.buf.writeUInt32LE(v, at);
  }
}
