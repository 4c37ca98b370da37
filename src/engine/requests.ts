/**
 * The requests JavaScript writes to the engine, defined once on this side: their kinds, the
 * modes of a query request and the bits above a mode, and the kinds of event the engine sends
 * back unasked. The numbers `crates/pgwarp-core/src/engine/{requests,completions}.rs`,
 * `query/mod.rs` and `result/plan.rs` read and write, side by side with them.
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

/** Query modes (`query::Mode`): what a query request asks back. */
export const MODE_ALL = 0;
export const MODE_FIRST = 1;
export const MODE_ONE = 2;
export const MODE_EXECUTE = 3;
export const MODE_STREAM = 4;
export const MODE_COPY_OUT = 5;
export const MODE_COPY_IN = 6;
export const MODE_COPY_ROWS = 7;

/** Mode bit: a query on a reserved connection keeps the shared path's rules (`query::AUTOCOMMIT`). */
export const AUTOCOMMIT = 0x20;
/** Mode bit: every column as the server's text (`plan::TEXT_RESULTS`). */
export const TEXT_RESULTS = 0x40;
/**
 * Mode bit: node-postgres' value shapes (`plan::PG_VALUES`): the engine converts what pg's
 * default parsers would, and leaves as the server's text what pg leaves as text. Bits 8 to 31
 * of the mode are then a mask over `plan::FAST`.
 */
export const PG_VALUES = 0x80;
/** Mode bit: json documents with long integers set aside for the exact parser (`plan::EXACT_JSON`). */
export const EXACT_JSON = 0x100;
/** Mode bit: run unnamed, past the statement cache (`query::UNNAMED`; read without `PG_VALUES` only). */
export const UNNAMED = 0x200;
