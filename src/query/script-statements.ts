/**
 * Which statement of a script a character position falls in. The server reports an error's
 * `position` in the whole text of a multi-statement query, and parses the whole text before
 * running any of it, so a syntax error in statement 3 comes before statements 1 and 2 ran:
 * only the position says where it is.
 * @module
 */

/**
 * The 1-based number of the statement holding character `position` (1-based, in characters
 * as the server counts them: code points) of `text`, counting statements as PostgreSQL's
 * parser does: split at `;` outside quotes, quoted identifiers, dollar quotes and comments,
 * empty ones skipped. `undefined` when the position is outside the text.
 */
export function statementAt(text: string, position: number): number | undefined {
  if (!Number.isInteger(position) || position < 1) return undefined;
  let statement = 1;
  /** The current statement has something besides blanks and comments. */
  let content = false;
  let chars = 0;
  let i = 0;
  const n = text.length;
  /** Advances over one character (a surrogate pair counts once, as the server counts it). */
  const step = () => {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < n ? 2 : 1;
    chars++;
  };
  /** Advances to `end` (an index), counting characters; true when `position` lies before it. */
  const skipTo = (end: number): boolean => {
    while (i < end) {
      step();
      if (chars >= position) return true;
    }
    return false;
  };
  while (i < n) {
    const c = text[i];
    const next = text[i + 1];
    let end = -1;
    if (c === '-' && next === '-') {
      const nl = text.indexOf('\n', i);
      end = nl === -1 ? n : nl;
    } else if (c === '/' && next === '*') {
      end = blockCommentEnd(text, i);
    } else if (c === "'") {
      content = true;
      end = quotedEnd(text, i, "'", backslashEscapes(text, i));
    } else if (c === '"') {
      content = true;
      end = quotedEnd(text, i, '"', false);
    } else if (c === '$') {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(text.slice(i, i + 64));
      // `$1` is a parameter, and a `$` inside an identifier (`a$b$`) starts no quote.
      if (tag !== null && !identifierBefore(text, i)) {
        content = true;
        const close = text.indexOf(tag[0], i + tag[0].length);
        end = close === -1 ? n : close + tag[0].length;
      }
    }
    if (end !== -1) {
      if (skipTo(end)) return statement;
      continue;
    }
    step();
    if (chars >= position) return statement;
    if (c === ';') {
      if (content) statement++;
      content = false;
    } else if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r' && c !== '\f') content = true;
  }
  return undefined;
}

/** The index after a `/* ... *\/` comment starting at `at` (they nest in PostgreSQL). */
function blockCommentEnd(text: string, at: number): number {
  let depth = 0;
  let i = at;
  while (i < text.length) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return text.length;
}

/** The index after a quoted string or identifier opened by `quote` at `at` (doubled quotes stay inside). */
function quotedEnd(text: string, at: number, quote: string, backslashes: boolean): number {
  let i = at + 1;
  while (i < text.length) {
    const c = text[i];
    if (backslashes && c === '\\') i += 2;
    else if (c === quote) {
      if (text[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return text.length;
}

/** Whether the `'` at `at` opens an escape string (`E'...'`), where a backslash escapes a quote. */
function backslashEscapes(text: string, at: number): boolean {
  const prev = text[at - 1];
  return (prev === 'E' || prev === 'e') && !identifierBefore(text, at - 1);
}

/** Whether the character before `at` continues an identifier (so `at` is inside one). */
function identifierBefore(text: string, at: number): boolean {
  return at > 0 && /[A-Za-z0-9_$\u0080-\uffff]/.test(text[at - 1]);
}
