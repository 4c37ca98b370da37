// A TCP relay between pgwarp and the test server that records the messages pgwarp sends, so a
// test can assert what reached the real server (not a mock: bytes go through unchanged).
import * as net from 'node:net';

/** One frontend message: its type byte and body. */
export interface SentMessage {
  type: string;
  body: Buffer;
}

export interface WireSpy {
  /** `postgres://` URL that goes through the relay. */
  url: string;
  /** Every message sent so far, over all connections, in order per connection. */
  sent: SentMessage[];
  /** Names of statements in Parse messages (`''` is the unnamed statement). */
  parsedNames(): string[];
  /** Texts of simple Query messages. */
  queries(): string[];
  close(): Promise<void>;
}

export async function wireSpy(databaseUrl: string): Promise<WireSpy> {
  const target = new URL(databaseUrl);
  const sent: SentMessage[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    let started = false;
    client.on('data', (chunk) => {
      upstream.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        // The startup message has no type byte; everything after it does.
        const header = started ? 5 : 4;
        if (pending.length < header) break;
        const len = pending.readUInt32BE(started ? 1 : 0);
        const total = started ? len + 1 : len;
        if (pending.length < total) break;
        if (started) sent.push({ type: String.fromCharCode(pending[0]), body: pending.subarray(5, total) });
        // SSLRequest and GSSENCRequest (sslmode=prefer sends one first) come before the startup message.
        if (!started) {
          const code = len === 8 ? pending.readUInt32BE(4) : 0;
          started = code !== 80877103 && code !== 80877104;
        }
        pending = pending.subarray(total);
      }
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  const cstring = (b: Buffer) => b.toString('utf8', 0, b.indexOf(0));
  return {
    url: url.toString(),
    sent,
    parsedNames: () => sent.filter((m) => m.type === 'P').map((m) => cstring(m.body)),
    queries: () => sent.filter((m) => m.type === 'Q').map((m) => cstring(m.body)),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
