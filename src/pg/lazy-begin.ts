// A BEGIN on a client the server says is idle costs a round trip of its own in pg. Here it is
// answered at once and goes to the server in the same write as the client's next statement
// (which the caller issues as soon as it has the answer). Only BEGINs that cannot fail on
// their own qualify: plain BEGIN / START TRANSACTION with transaction modes from
// PostgreSQL's grammar, no values, no name. If one still fails (the connection is lost), the
// statement that followed it rejects with its error.
import type { normalizeQuery } from './query';
import { makeResult, type Result } from './result';
import { runPgQuery, type Target } from './run';

type PgQuery = ReturnType<typeof normalizeQuery>['query'];

const MODE = String.raw`(?:isolation\s+level\s+(?:serializable|repeatable\s+read|read\s+committed|read\s+uncommitted)|read\s+write|read\s+only|(?:not\s+)?deferrable)`;
const BEGIN = new RegExp(String.raw`^\s*(?:begin(?:\s+(?:work|transaction))?|start\s+transaction)(?:\s+${MODE}(?:\s*,?\s*${MODE})*)?\s*;?\s*$`, 'i');

/** Whether `q` is a BEGIN that may be answered before the server has seen it. */
export function isPlainBegin(q: PgQuery): boolean {
  if (q.name !== undefined || (Array.isArray(q.values) && q.values.length > 0)) return false;
  if (q.query_timeout !== undefined || typeof q.text !== 'string' || q.text.length > 200) return false;
  return BEGIN.test(q.text);
}

/** A Client's BEGIN answered before the server has seen it, until the server has. */
export class LazyBegin {
  /** Its error once failed (kept for the next statement to report), or undefined. */
  private answer: Promise<unknown> | undefined;

  /** Whether one is outstanding (or failed and not reported yet). */
  get pending(): boolean {
    return this.answer !== undefined;
  }

  /** Sends `query` (a BEGIN, see `isPlainBegin`) and answers it at once. */
  begin(target: Target, query: PgQuery): Result {
    const answer = runPgQuery(target, query).then(
      () => undefined,
      (err: unknown) => err,
    );
    this.answer = answer;
    void answer.then((err) => {
      if (err === undefined && this.answer === answer) this.answer = undefined;
    });
    return makeResult('BEGIN', [], undefined, query.rowMode);
  }

  /**
   * Waits for the BEGIN that `running` was sent behind, if any: if it failed, `running`'s
   * caller gets its error.
   */
  before<T>(running: Promise<T>): Promise<T> {
    const begun = this.answer;
    // Not async for the usual case: an async function returning a promise adds turns.
    return begun === undefined ? running : this.after(begun, running);
  }

  private async after<T>(begun: Promise<unknown>, running: Promise<T>): Promise<T> {
    running.catch(() => {});
    const failed = await begun;
    if (this.answer === begun) this.answer = undefined;
    if (failed !== undefined) throw failed;
    return running;
  }

  /** Forgets it (the connection went to another holder, whose release rolled it back). */
  forget(): void {
    this.answer = undefined;
  }
}
