/**
 * The kinds of request JavaScript writes to the engine and of event the engine sends back
 * unasked: the numbers `crates/pgwarp-core/src/engine/{requests,completions}.rs` read and
 * write. Kept apart from the bridge so the two sides' numbers can be read side by side.
 * @module
 */

export const QUERY = 1;
export const NEXT = 2;
export const DROP_RESULT = 3;
export const RESERVE = 4;
export const RELEASE = 5;
export const READY = 6;
export const STOP = 7;
export const COPY_DATA = 8;
export const COPY_END = 9;
export const END = 10;
export const EXEC = 13;
export const WATCH = 14;
export const CANCEL_STATEMENTS = 15;
export const DESCRIBE = 16;
export const EXEC_ROWS = 17;
export const CLAIM = 18;
export const FORGET = 11;
export const PASSWORD = 12;

/** Completions with this id are events from the engine; the first byte says which. */
export const EVENT_ID = 0;
export const EVENT_NEW_CONNECTION = 2;
export const EVENT_NOTICE = 4;
export const EVENT_NOTIFICATION = 5;
export const EVENT_LOST = 6;
export const EVENT_CLOSED = 7;
export const EVENT_PASSWORD = 3;
export const EVENT_CONNECTED = 8;
export const EVENT_WAITED = 9;
