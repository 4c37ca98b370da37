/**
 * The engine's events (completions with request id 0) other than those the bridge answers
 * itself: their layouts (`crates/pgwarp-core/src/engine/mod.rs`, `EVENT_*`) read into calls of
 * the listeners the pool, its LISTEN connection and tracing set.
 * @module
 */
import * as kind from './requests';

/** Listeners for what servers send on their own, and for what tracing hears of. */
export interface EngineEvents {
  notice?: (notice: Buffer, conn: number) => void;
  notification?: (conn: number, processId: number, channel: string, payload: string) => void;
  lost?: (conn: number) => void;
  /** A connection's session ended on its own while nothing ran on it (`EVENT_CLOSED`). */
  closed?: (conn: number, reason: string) => void;
  /** A connection opened, or failed to (`EVENT_CONNECTED`): for tracing. */
  connected?: (conn: number, host: number, tls: boolean, ms: number, error: string) => void;
  /** A caller waited for a connection (`EVENT_WAITED`), while waits are observed. */
  waited?: (ms: number) => void;
}

/** Reads one event and calls its listener, if any. */
export function dispatchEvent(ev: Buffer, events: EngineEvents): void {
  const conn = ev.readUInt32LE(4);
  if (ev[0] === kind.EVENT_NOTICE) events.notice?.(ev.subarray(8), conn);
  else if (ev[0] === kind.EVENT_NOTIFICATION) {
    const { processId, channel, payload } = readNotification(ev);
    events.notification?.(conn, processId, channel, payload);
  } else if (ev[0] === kind.EVENT_LOST) events.lost?.(conn);
  else if (ev[0] === kind.EVENT_CLOSED) events.closed?.(conn, ev.toString('utf8', 12, 12 + ev.readUInt32LE(8)));
  else if (ev[0] === kind.EVENT_CONNECTED) events.connected?.(conn, ev[8], ev[9] === 1, ev.readUInt32LE(12) / 1000, ev.toString('utf8', 20, 20 + ev.readUInt32LE(16)));
  else if (ev[0] === kind.EVENT_WAITED) events.waited?.(ev.readUInt32LE(4) / 1000); // here the u32 at 4 is microseconds waited
}

/** A notification event: `i32 process id, u32 length, channel, u32 length, payload` after the connection id. */
function readNotification(ev: Buffer): { processId: number; channel: string; payload: string } {
  const channelLen = ev.readUInt32LE(12);
  const payloadAt = 16 + channelLen;
  return {
    processId: ev.readInt32LE(8),
    channel: ev.toString('utf8', 16, payloadAt),
    payload: ev.toString('utf8', payloadAt + 4, payloadAt + 4 + ev.readUInt32LE(payloadAt)),
  };
}
