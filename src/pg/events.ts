/**
 * The engine's notifications and notices in the shapes pg emits them, for a Client and for a
 * Pool's idle clients alike.
 * @module
 */
import { decodeNotice } from '../pool/notify';

/** A notification as pg emits it. */
export function notification(processId: number, channel: string, payload: string): Record<string, unknown> {
  return { processId, channel, payload, length: 0, name: 'notification' };
}

/**
 * A notice as pg emits it: pg-protocol's NoticeMessage, a plain object (not an Error) with
 * `name: 'notice'`, `message` and the server's fields.
 */
export function noticeOf(buf: Buffer): Record<string, unknown> {
  const n = decodeNotice(buf) as unknown as Record<string, unknown>;
  // pg-protocol gives every field as the server's text.
  for (const k of ['position', 'internalPosition', 'line']) if (typeof n[k] === 'number') n[k] = String(n[k]);
  return { ...n, length: buf.length, name: 'notice', message: String(n.message ?? '') };
}
