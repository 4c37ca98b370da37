// A BEGIN on a client the server says is idle costs a round trip of its own in pg. Here it is
// answered at once and goes to the server in the same write as the client's next statement
// (which the caller issues as soon as it has the answer). Only BEGINs that cannot fail on
// their own qualify: plain BEGIN / START TRANSACTION with transaction modes from
// PostgreSQL's grammar, no values, no name. If one still fails (the connection is lost), the
// statement that followed it rejects with its error.
import type { normalizeQuery } from './query';

const MODE = String.raw`(?:isolation\s+level\s+(?:serializable|repeatable\s+read|read\s+committed|read\s+uncommitted)|read\s+write|read\s+only|(?:not\s+)?deferrable)`;
const BEGIN = new RegExp(String.raw`^\s*(?:begin(?:\s+(?:work|transaction))?|start\s+transaction)(?:\s+${MODE}(?:\s*,?\s*${MODE})*)?\s*;?\s*$`, 'i');

/** Whether `q` is a BEGIN that may be answered before the server has seen it. */
export function isPlainBegin(q: ReturnType<typeof normalizeQuery>['query']): boolean {
  if (q.name !== undefined || (Array.isArray(q.values) && q.values.length > 0)) return false;
  if (q.query_timeout !== undefined || typeof q.text !== 'string' || q.text.length > 200) return false;
  return BEGIN.test(q.text);
}
