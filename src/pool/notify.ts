/**
 * LISTEN/NOTIFY and notices: what servers send on their own.
 * @module
 */
import type { Bridge } from '../engine/bridge';
import { errorFromResult, PgwarpError, type PostgresError } from '../errors/errors';
import type { ReservedConnection } from './reserved';

/** Fields a notice has only sometimes, as a `PostgresError` does. */
type OptionalFields = 'severityNonLocalized' | 'detail' | 'hint' | 'position' | 'internalPosition' | 'internalQuery' | 'where' | 'schema' | 'table' | 'column' | 'dataType' | 'constraint' | 'file' | 'line' | 'routine';

/**
 * A notice (`RAISE NOTICE`, a warning), with the fields a `PostgresError` has: `severity`
 * (`NOTICE`, `WARNING`, `INFO`...), `code` (`00000`, `01000` for a warning), `message`, and
 * `detail`, `hint`, `where`... when the server sends them.
 */
export type Notice = Pick<PostgresError, 'severity' | 'code' | 'message'> & Partial<Pick<PostgresError, OptionalFields>>;

/** Reads a notice event's error result into a plain object. */
export function decodeNotice(buf: Buffer): Notice {
  const err = errorFromResult(buf) as unknown as Record<string, unknown>;
  const notice: Record<string, unknown> = { message: err.message };
  for (const [key, value] of Object.entries(err)) if (key !== 'name' && value !== undefined) notice[key] = value;
  return notice as unknown as Notice;
}

/** What a listener gets with each payload. */
export interface NotificationInfo {
  channel: string;
  /** The notifying session's backend process id. */
  processId: number;
}

/** Options of `pool.listen`. */
export interface ListenOptions {
  /**
   * Runs after every (re)subscription: once when the channel is first listened to, and again
   * each time the listening connection was lost and LISTEN ran on a new one, so the caller
   * can catch up on what was sent meanwhile.
   */
  onListen?: () => unknown;
}

/** A subscription `pool.listen` gave. */
export interface Subscription {
  /** Stops delivery to this callback; the connection closes when nothing listens any more. */
  unlisten(): Promise<void>;
}

type Callback = (payload: string, info: NotificationInfo) => unknown;

interface Entry {
  callback: Callback;
  onListen?: () => unknown;
}

/** `"name"`, with quotes doubled: a channel is an identifier, never spliced in as SQL. */
export function quoteIdentifier(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new PgwarpError('a channel name must be a non-empty string');
  if (name.includes('\u0000')) throw new PgwarpError('a channel name must not contain NUL');
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * One connection per pool, reserved for LISTEN and shared by every channel. When it is lost
 * (a server restart, `pg_terminate_backend`), a new one is reserved with backoff, every
 * channel is listened to again, and each `onListen` runs.
 */
export class Listener {
  private readonly channels = new Map<string, Set<Entry>>();
  /** The LISTEN of each channel, once sent. */
  private readonly listening = new Map<string, Promise<unknown>>();
  private conn: ReservedConnection | undefined;
  private connecting: Promise<ReservedConnection> | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly bridge: Bridge,
    private readonly reserve: () => Promise<ReservedConnection>,
  ) {
    bridge.events.notification = (conn, processId, channel, payload) => {
      if (conn !== this.conn?.id) return;
      for (const entry of [...(this.channels.get(channel) ?? [])]) {
        try {
          const r = entry.callback(payload, { channel, processId });
          if (r && typeof (r as Promise<unknown>).catch === 'function') (r as Promise<unknown>).catch(() => {});
        } catch {
          // One listener that throws must not stop delivery to the others.
        }
      }
    };
    bridge.events.lost = (conn) => {
      if (conn !== this.conn?.id) return;
      // Give the dead reservation back (the pool drops its connection), then start over.
      const dead = this.conn;
      this.conn = undefined;
      void dead.release().catch(() => {});
      if (this.channels.size > 0 && !this.closed) this.reconnect(0);
    };
  }

  async listen(channel: string, callback: Callback, options: ListenOptions = {}): Promise<Subscription> {
    if (typeof callback !== 'function') throw new PgwarpError('listen() needs a callback function');
    const quoted = quoteIdentifier(channel);
    if (this.closed) throw new PgwarpError('the pool is closed');
    const entry: Entry = { callback, onListen: options.onListen };
    let set = this.channels.get(channel);
    const first = set === undefined;
    if (set === undefined) this.channels.set(channel, (set = new Set()));
    set.add(entry);
    if (this.channels.size === 1 && first) this.bridge.keepAlive(true);
    // Every caller of a channel waits for its one LISTEN, and shares its failure.
    if (first) {
      const listening = this.connection().then((conn) => conn.query(`LISTEN ${quoted}`).execute());
      this.listening.set(channel, listening);
      listening.catch(() => this.listening.delete(channel));
    }
    try {
      await this.listening.get(channel);
      await entry.onListen?.();
    } catch (err) {
      // A failed LISTEN or onListen leaves nothing subscribed.
      await this.unlisten(channel, entry).catch(() => {});
      throw err;
    }
    return { unlisten: () => this.unlisten(channel, entry) };
  }

  private remove(channel: string, entry: Entry): boolean {
    const set = this.channels.get(channel);
    if (!set?.delete(entry)) return false;
    if (set.size > 0) return false;
    this.channels.delete(channel);
    if (this.channels.size === 0) this.bridge.keepAlive(false);
    return true;
  }

  private async unlisten(channel: string, entry: Entry): Promise<void> {
    if (!this.remove(channel, entry)) return;
    this.listening.delete(channel);
    const conn = this.conn;
    if (conn === undefined) {
      // A connection still on its way, with nothing left to listen on: it goes back.
      void this.connecting?.then(
        (c) => {
          if (this.channels.size === 0 && this.conn === c) {
            this.conn = undefined;
            void c.release();
          }
        },
        () => {},
      );
      return;
    }
    if (this.channels.size === 0) {
      // Releasing resets the session, UNLISTEN * included.
      this.conn = undefined;
      clearTimeout(this.retry);
      await conn.release();
      return;
    }
    await conn.query(`UNLISTEN ${quoteIdentifier(channel)}`).execute();
  }

  private connection(): Promise<ReservedConnection> {
    if (this.conn) return Promise.resolve(this.conn);
    this.connecting ??= this.reserve().then(
      (conn) => {
        this.connecting = undefined;
        this.conn = conn;
        this.bridge.watch(conn.id);
        return conn;
      },
      (err) => {
        this.connecting = undefined;
        throw err;
      },
    );
    return this.connecting;
  }

  /** After a loss: a new connection, LISTEN on every channel, then every `onListen`. */
  private reconnect(attempt: number): void {
    const delay = attempt === 0 ? 0 : Math.min(5000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2);
    clearTimeout(this.retry);
    this.retry = setTimeout(async () => {
      if (this.closed || this.channels.size === 0) return;
      try {
        const conn = await this.connection();
        const channels = [...this.channels.keys()];
        if (channels.length) await conn.exec(channels.map((c) => `LISTEN ${quoteIdentifier(c)}`).join('; '));
        for (const set of this.channels.values()) for (const entry of set) await Promise.resolve(entry.onListen?.()).catch(() => {});
      } catch {
        if (this.conn) {
          const broken = this.conn;
          this.conn = undefined;
          await broken.release().catch(() => {});
        }
        this.reconnect(attempt + 1);
      }
    }, delay);
  }

  /** Stops listening for good (the pool is closing). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    if (this.channels.size > 0) this.bridge.keepAlive(false);
    this.channels.clear();
    const conn = this.conn;
    this.conn = undefined;
    await conn?.release().catch(() => {});
  }
}
