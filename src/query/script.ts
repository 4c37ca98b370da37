/**
 * `exec()`: a text of many statements (a migration, a schema file, `DO` blocks, function
 * bodies with `$$ ... ; ... $$`), run with the simple query protocol.
 * @module
 */
import type { Bridge } from '../engine/bridge';
import { commandOf } from '../result/decode';
import { errorFromResult, PgwarpError, PostgresError } from '../errors/errors';
import { statementAt } from './script-statements';

/** What one statement of a script did. */
export interface StatementResult {
  /** The command of its tag: `CREATE TABLE`, `INSERT`, `DO`, `SELECT`... */
  command: string;
  /** Rows it inserted, updated, deleted, copied or returned (0 for those that count none). */
  rowCount: number;
  /** The server's tag as sent. */
  tag: string;
}

/**
 * Walks a script's answer (`pool/script.rs`): per completed statement its tag, row count and,
 * with `pages` (EXEC_ROWS), its result page (empty when it returned no columns). Returns the
 * offset of the byte that says whether the script failed.
 */
export function forEachStatement(buf: Buffer, pages: boolean, each: (tag: string, rowCount: number, page: Buffer | undefined) => void): number {
  const count = buf.readUInt32LE(1);
  let at = 5;
  for (let i = 0; i < count; i++) {
    const rowCount = buf.readDoubleLE(at);
    const len = buf.readUInt32LE(at + 8);
    const tag = buf.toString('utf8', at + 12, at + 12 + len);
    at += 12 + len;
    let page: Buffer | undefined;
    if (pages) {
      const pageLength = buf.readUInt32LE(at);
      at += 4;
      if (pageLength > 0) page = buf.subarray(at, at + pageLength);
      at += pageLength;
    }
    each(tag, rowCount, page);
  }
  return at;
}

/**
 * Runs `text` on reserved connection `conn` and reads its answer (layout:
 * `crates/pgwarp-core/src/pool/script.rs`); `onAnswer` sees the answer first. A failure
 * rejects with the server's error, with `statement` (1-based) naming the statement that
 * failed and `completed` what ran before it (which the server then rolled back, unless the
 * script committed it itself).
 */
export async function runScript(bridge: Bridge, conn: number, text: string, onAnswer?: (buf: Buffer) => void): Promise<StatementResult[]> {
  if (typeof text !== 'string') throw new PgwarpError('exec() takes the script as a string');
  const buf = await bridge.exec(conn, text);
  onAnswer?.(buf);
  if (buf[0] !== 0) throw errorFromResult(buf, text);
  const results: StatementResult[] = [];
  const at = forEachStatement(buf, false, (tag, rowCount) => results.push({ command: commandOf(tag), rowCount, tag }));
  if (buf[at] === 1) throw scriptError(buf.subarray(at + 1), text, results);
  return results;
}

/**
 * A script's failure, saying which statement failed: the one its `position` falls in when
 * the server gives one (a syntax error fails the whole text before any of it runs), else
 * the one after those completed.
 */
export function scriptError(buf: Buffer, text: string, completed: StatementResult[]): Error {
  const err = errorFromResult(buf, text);
  if (err instanceof PostgresError) {
    const at = err.position === undefined ? undefined : statementAt(text, Number(err.position));
    const statement = at ?? completed.length + 1;
    err.statement = statement;
    err.completed = completed;
    err.message = `${err.message} (statement ${statement} of the script)`;
  }
  return err;
}
