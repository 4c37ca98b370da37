/**
 * node-postgres' submittable protocol, for submittables pgwarp/pg did not make: pg-cursor,
 * pg-query-stream and pg-copy-streams as installed from npm, pg's own `Query` class, and
 * anything else written against pg's Client. pg calls `submit(connection)` when it is the
 * query's turn; the submittable drives pg's Connection (parse, bind, describe, execute,
 * sync, close, query, and for COPY its socket, `connection.stream`), and pg hands it the
 * server's answers through its `handle*` methods. Here a stand-in Connection takes those
 * calls in order, runs them on pgwarp's streaming, script and COPY paths, and answers the
 * same way, with every value as the server's text (the submittable parses it, as with pg).
 * @module
 */
import { EventEmitter } from 'node:events';
import { Duplex, type Readable } from 'node:stream';

import { copyIn, copyOut } from '../query/copy';
import { readColumnMeta, decodeResult, type DecodeOptions } from '../result/decode';
import { PG_VALUES, TEXT_RESULTS } from '../engine/requests';
import { errorFromResult } from '../errors/errors';
import { forEachStatement } from '../query/script';
import { RowStream } from '../query/stream';
import { toPgError } from './errors';
import type { Target } from './run';
import { prepareValue, prepareValues } from './values';

/** What pg's Client calls on the query it runs (all optional but `submit`). */
export interface Foreign {
  submit(connection: unknown): unknown;
  handleRowDescription?(msg: unknown): void;
  handleDataRow?(msg: unknown): void;
  handleCommandComplete?(msg: unknown, con: unknown): void;
  handleReadyForQuery?(con: unknown): void;
  handleError?(err: unknown, con: unknown): void;
  handleEmptyQuery?(con: unknown): void;
  handlePortalSuspended?(con: unknown): void;
  handleCopyInResponse?(con: unknown): void;
  callback?: unknown;
}

/** Whether `v` is a submittable of another make (it has pg's `submit`). */
export function isForeign(v: unknown): v is Foreign {
  return v !== null && typeof v === 'object' && typeof (v as { submit?: unknown }).submit === 'function';
}

/** Every column as the server's text, unparsed; values go verbatim, as pg sends them. */
const RAW: DecodeOptions = { rowMode: 'array', int8: 'string', pg: { bits: TEXT_RESULTS | PG_VALUES, parser: () => undefined } };
const RAW_SCRIPT: DecodeOptions = { rowMode: 'array', int8: 'string', text: true };

const COPY_IN = /^\s*copy\b[\s\S]*\bfrom\s+stdin\b/i;
const COPY_OUT = /^\s*copy\b[\s\S]*\bto\s+stdout\b/i;

/** An open portal: a statement with its values, and its rows once it runs. */
interface Portal {
  text: string;
  values: unknown[] | undefined;
  rows?: RowStream<(string | null)[]>;
  /** Rows read to know the columns, not handed over yet. */
  ahead: (string | null)[][];
  ended: boolean;
  described: boolean;
}

/**
 * Runs `q` on `target` as pg's Client would; resolves once pg would consider it done (its
 * ReadyForQuery delivered, or its error).
 */
export function runForeign(q: Foreign, target: Target): Promise<void> {
  const wire = new Wire(q, target);
  let refused: unknown;
  try {
    // pg's convention: submit() returns an Error when it cannot start.
    refused = q.submit(wire);
  } catch (err) {
    refused = err;
  }
  if (refused instanceof Error) wire.refuse(refused);
  return wire.done;
}

/** The stand-in for pg's Connection that one submittable drives. */
class Wire extends EventEmitter {
  /** pg's socket: COPY FROM STDIN writes its data here, COPY TO STDOUT reads the server's bytes from it. */
  readonly stream: Duplex;
  /** pg's Connection keeps the named statements it parsed; pg's Query reads them. */
  readonly parsedStatements: Record<string, string> = {};
  readonly submittedNamedStatements: Record<string, string> = {};
  readonly done: Promise<void>;
  private finish!: () => void;
  private over = false;
  /** Calls run one after another, in the order the submittable made them. */
  private queue: Promise<void> = Promise.resolve();
  private readonly statements = new Map<string, string>();
  private portal: Portal | undefined;
  /** After an error the server skips everything up to the next sync. */
  private failed = false;
  private copy: CopyFeed | undefined;
  /** Bytes of backend messages read back after a COPY TO STDOUT reader let go of the socket. */
  private backlog: Buffer = Buffer.alloc(0);

  constructor(
    private readonly q: Foreign,
    private readonly target: Target,
  ) {
    super();
    this.done = new Promise<void>((resolve) => (this.finish = resolve));
    const wire = this;
    this.stream = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        wire.fromClient(chunk, cb);
      },
    });
    // pg's own reader of the socket; pg-copy-streams' COPY TO takes it off and puts it back.
    this.stream.on('data', (b: Buffer) => this.fromServer(b));
  }

  parse(cfg: { text?: string; name?: string }): void {
    this.later(async () => {
      this.statements.set(cfg.name ?? '', cfg.text ?? '');
      if (cfg.name) this.parsedStatements[cfg.name] = cfg.text ?? '';
    });
  }

  bind(cfg: { statement?: string; values?: unknown[]; valueMapper?: (v: unknown, i: number) => unknown }): void {
    this.later(async () => {
      const text = this.statements.get(cfg.statement ?? '') ?? '';
      const map = cfg.valueMapper;
      const values = map === undefined ? prepareValues(cfg.values) : cfg.values?.map((v, i) => prepareValue(map(v, i)));
      this.portal = { text, values, ahead: [], ended: false, described: false };
    });
  }

  describe(cfg: { type?: string }): void {
    this.later(async () => {
      if (cfg.type === 'P') await this.describePortal();
    });
  }

  execute(cfg: { rows?: number }): void {
    this.later(async () => {
      await this.describePortal(true);
      const p = this.portal;
      if (p === undefined) return;
      const limit = cfg.rows ?? 0;
      let sent = 0;
      while (limit === 0 || sent < limit) {
        const row = p.ahead.shift() ?? (await this.nextRow(p));
        if (row === undefined) break;
        this.q.handleDataRow?.({ name: 'dataRow', length: 0, fieldCount: row.length, fields: row });
        sent++;
      }
      if (p.ended) {
        this.q.handleCommandComplete?.({ name: 'commandComplete', length: 0, text: p.rows?.tag ?? '' }, this);
        this.portal = undefined;
      } else this.q.handlePortalSuspended?.(this);
    });
  }

  flush(): void {}

  close(cfg: { type?: string }): void {
    this.later(async () => {
      if (cfg.type === 'P') await this.closePortal();
    });
  }

  sync(): void {
    this.later(async () => {
      await this.closePortal();
      this.failed = false;
      this.ready();
    }, true);
  }

  query(text: string): void {
    this.later(async () => {
      if (COPY_IN.test(text)) await this.copyIn(text);
      else if (COPY_OUT.test(text)) await this.copyOut(text);
      else await this.script(text);
    });
  }

  /** pg-copy-streams' `destroy()` of a COPY FROM STDIN: the copy fails, nothing of it stays. */
  sendCopyFail(message: string): void {
    this.copy?.fail(message);
  }

  end(): void {
    this.emit('end');
  }

  /** The submittable could not start: its error, as pg hands it over. */
  refuse(err: Error): void {
    this.later(async () => {
      throw err;
    }, true);
  }

  /** Queues `step`; after an error only a sync (`always`) still runs. */
  private later(step: () => Promise<void>, always = false): void {
    this.queue = this.queue.then(async () => {
      if (this.over || (this.failed && !always)) return;
      try {
        await step();
      } catch (err) {
        this.fail(err);
      }
    });
  }

  /** The server's error: pg hands it to the query, which is then done. */
  private fail(err: unknown): void {
    this.failed = true;
    this.portal = undefined;
    if (this.over) return;
    this.over = true;
    this.q.handleError?.(toPgError(err), this);
    this.finish();
  }

  private ready(): void {
    if (this.over) return;
    this.over = true;
    this.emit('readyForQuery', { name: 'readyForQuery', length: 5, status: 'I' });
    this.q.handleReadyForQuery?.(this);
    this.finish();
  }

  /** Runs the portal's statement (once) and, unless `quiet`, says what its rows look like. */
  private async describePortal(quiet = false): Promise<void> {
    const p = this.portal;
    if (p === undefined || p.described) return;
    p.described = true;
    p.rows = new RowStream<(string | null)[]>(this.target.runner, p.text, p.values, RAW, 100);
    const first = await this.nextRow(p);
    if (first !== undefined) p.ahead.push(first);
    const columns = readColumnMeta(p.rows.columnMeta);
    if (columns.length === 0) {
      this.emit('noData');
      return;
    }
    const msg = {
      name: 'rowDescription',
      length: 0,
      fieldCount: columns.length,
      fields: columns.map((c) => ({
        name: c.name,
        tableID: c.table,
        columnID: c.number,
        dataTypeID: c.type,
        dataTypeSize: c.size,
        dataTypeModifier: c.typeModifier,
        format: 'text',
      })),
    };
    // The server describes the rows only when asked to (Describe); running them is Execute.
    if (quiet) return;
    this.emit('rowDescription', msg);
    this.q.handleRowDescription?.(msg);
  }

  private async nextRow(p: Portal): Promise<(string | null)[] | undefined> {
    if (p.ended || p.rows === undefined) return undefined;
    const next = await p.rows.next();
    if (next.done) {
      p.ended = true;
      return undefined;
    }
    return next.value;
  }

  private async closePortal(): Promise<void> {
    const p = this.portal;
    this.portal = undefined;
    if (p?.rows !== undefined && !p.ended) await p.rows.return().catch(() => {});
  }

  /** A simple query: one answer per statement, then ReadyForQuery. */
  private async script(text: string): Promise<void> {
    if (text.trim() === '') {
      this.q.handleEmptyQuery?.(this);
      return this.ready();
    }
    const buf = await this.target.script(text);
    if (buf[0] !== 0) throw errorFromResult(buf, text);
    let n = 0;
    const at = forEachStatement(buf, true, (tag, _rowCount, page) => {
      if (page !== undefined) {
        const d = decodeResult<(string | null)[]>(page, `${text}\u0000${n}`, RAW_SCRIPT, true);
        const columns = readColumnMeta(d.meta);
        this.q.handleRowDescription?.({
          name: 'rowDescription',
          length: 0,
          fieldCount: columns.length,
          fields: columns.map((c) => ({ name: c.name, tableID: c.table, columnID: c.number, dataTypeID: c.type, dataTypeSize: c.size, dataTypeModifier: c.typeModifier, format: 'text' })),
        });
        for (const row of d.rows) this.q.handleDataRow?.({ name: 'dataRow', length: 0, fieldCount: row.length, fields: row });
      }
      this.q.handleCommandComplete?.({ name: 'commandComplete', length: 0, text: tag }, this);
      n++;
    });
    if (buf[at] === 1) throw errorFromResult(buf.subarray(at + 1), text);
    this.ready();
  }

  /** COPY ... FROM STDIN: the data the submittable writes to `stream`, framed as pg frames it. */
  private async copyIn(text: string): Promise<void> {
    const feed = new CopyFeed();
    this.copy = feed;
    const copied = copyIn(this.target.runner, text, feed.chunks());
    // The copy waits for its data: tell the submittable to send it.
    setImmediate(() => {
      this.emit('copyInResponse');
      this.q.handleCopyInResponse?.(this);
    });
    try {
      const rows = await copied;
      this.q.handleCommandComplete?.({ name: 'commandComplete', length: 0, text: `COPY ${rows}` }, this);
    } finally {
      this.copy = undefined;
    }
    this.ready();
  }

  /** COPY ... TO STDOUT: the server's messages written to `stream` as pg's socket would give them. */
  private async copyOut(text: string): Promise<void> {
    const data = copyOut(this.target.runner, text) as Readable & { rowCount?: number };
    this.stream.push(message(0x48, Buffer.from([0, 0, 0])));
    try {
      for await (const chunk of data) this.stream.push(message(0x64, chunk as Buffer));
    } catch (err) {
      // The reader lets go of the socket on an ErrorResponse; pg hands the error over.
      this.stream.push(message(0x45, Buffer.from([0x4d, ...Buffer.from('copy failed'), 0, 0])));
      throw err;
    }
    this.stream.push(message(0x63, Buffer.alloc(0)));
    this.stream.push(message(0x43, Buffer.from(`COPY ${data.rowCount ?? 0}\0`)));
    this.stream.push(message(0x5a, Buffer.from('I')));
  }

  /** Backend bytes back from a COPY TO STDOUT reader: its CommandComplete and ReadyForQuery. */
  private fromServer(bytes: Buffer): void {
    this.backlog = eachMessage(this.backlog, bytes, (code, body) => {
      if (code === 0x43) this.q.handleCommandComplete?.({ name: 'commandComplete', length: body.length + 4, text: cString(body) }, this);
      else if (code === 0x5a) this.ready();
    });
  }

  /** Frontend bytes the submittable writes: CopyData, CopyDone, CopyFail. */
  private fromClient(bytes: Buffer, written: (err?: Error | null) => void): void {
    const feed = this.copy;
    if (feed === undefined) return written();
    feed.take(bytes, written);
  }
}

/**
 * Calls `each` with the code and body of every whole protocol message in `pending` + `bytes`;
 * returns the bytes of a message not whole yet.
 */
function eachMessage(pending: Buffer, bytes: Buffer, each: (code: number, body: Buffer) => void): Buffer {
  let buf = pending.length === 0 ? bytes : Buffer.concat([pending, bytes]);
  while (buf.length >= 5) {
    const len = buf.readUInt32BE(1) + 1;
    if (buf.length < len) break;
    each(buf[0], buf.subarray(5, len));
    buf = buf.subarray(len);
  }
  return buf;
}

/** A NUL-terminated string's text. */
function cString(body: Buffer): string {
  return body.toString('utf8', 0, Math.max(0, body.length - 1));
}

/** One backend message: its code, its length, its body. */
function message(code: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = code;
  out.writeUInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** The data of a COPY FROM STDIN, taken from pg's framing (CopyData, CopyDone, CopyFail). */
class CopyFeed {
  private pending: Buffer = Buffer.alloc(0);
  private readonly parts: Buffer[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  /** The writer's callback, held while the copy has not taken what it wrote (backpressure). */
  private held: (() => void) | undefined;

  take(bytes: Buffer, written: () => void): void {
    this.pending = eachMessage(this.pending, bytes, (code, body) => {
      if (code === 0x64) this.parts.push(Buffer.from(body));
      else if (code === 0x63) this.ended = true;
      else if (code === 0x66) this.fail(cString(body));
    });
    this.held = written;
    this.wake?.();
    if (this.parts.length < 16) this.release();
  }

  fail(message: string): void {
    this.failure ??= new Error(message);
    this.wake?.();
  }

  private release(): void {
    const cb = this.held;
    this.held = undefined;
    cb?.();
  }

  async *chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const part = this.parts.shift();
      if (part !== undefined) {
        if (this.parts.length < 16) this.release();
        yield part;
        continue;
      }
      if (this.ended) return;
      this.release();
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
