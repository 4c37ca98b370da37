/**
 * `jsonNumbers: 'exact'`: json/jsonb values whose integers `JSON.parse` would round
 * (node-postgres#2385) are parsed here, and only those. The engine scans every document off
 * the JavaScript thread (`crates/pgwarp-core/src/result/exact.rs`); a document with an
 * integer part of 16 digits or more is left out of its column's JSON array (a `null` stands
 * in) and its text stays in the page's string region. The array then ends with a trailer,
 * `[row, start, end, ...]`, and the column descriptor's `FIX_EXACT` bit says so for that page.
 *
 * The parser is hand-written rather than taken from a library because it must give exactly
 * what `JSON.parse` gives apart from the big integers, and none does: lossless-json throws on
 * duplicate keys (which the `json` type keeps, and `JSON.parse` resolves last-wins) and by
 * default wraps numbers in its own class; json-bigint is unmaintained and by default throws
 * on a `__proto__` key, which `JSON.parse` makes an own property. `JSON.parse`'s own reviver
 * sees a number's source text only from Node 21 on (pgwarp supports Node 20). It reads only
 * the server's output, which PostgreSQL has validated, so it need not be forgiving, only exact.
 * @module
 */

/**
 * How numbers inside json/jsonb values arrive: `'float'` as `JSON.parse` gives them, `'exact'`
 * with integers beyond +/-(2^53 - 1) as bigints. See `jsonNumbers` in the pool's options.
 *
 * @example
 * ```ts
 * const rows = await pool.query('select payload from events', [], { jsonNumbers: 'exact' }).all();
 * ```
 */
export type JsonNumbers = 'float' | 'exact';


/** The descriptor's element-fix bit for a page whose JSON array ends with a trailer (`layout::FIX_EXACT`). */
export const FIX_EXACT = 0x80;

/** Puts the exactly parsed documents of a column's page at their rows, taking the trailer off `values`. */
export function placeExact(values: unknown[], str: string): void {
  const trailer = values.pop() as number[];
  for (let k = 0; k < trailer.length; k += 3) values[trailer[k]] = parseExact(str, trailer[k + 1], trailer[k + 2]);
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Parses the JSON text `text.slice(start, end)` as `JSON.parse` does, except that an integer
 * literal (no fraction, no exponent) beyond +/-(2^53 - 1) becomes a `bigint`.
 *
 * @example
 * ```ts
 * parseExact('{"id": 12345678901234567890, "n": 1.5}'); // { id: 12345678901234567890n, n: 1.5 }
 * ```
 */
export function parseExact(text: string, start = 0, end = text.length): unknown {
  // On its own slice (V8 makes a long one a view, not a copy), the document's end is the
  // string's: what follows it in the page cannot be read as part of it, and no bound needs
  // checking per character.
  const p = new ExactParser(start === 0 && end === text.length ? text : text.slice(start, end));
  const v = p.value();
  p.space();
  if (p.at !== p.s.length) p.fail();
  return v;
}

class ExactParser {
  at = 0;
  /** The next backslash at or after some string's start (-1: none left), found once, not per string. */
  private backslash = -2;

  constructor(readonly s: string) {}

  fail(): never {
    throw new SyntaxError(`pgwarp: unexpected JSON text at ${this.at}`);
  }

  space(): void {
    const s = this.s;
    let c = s.charCodeAt(this.at);
    // space, \t, \n, \r: JSON's only whitespace.
    while (c === 32 || c === 9 || c === 10 || c === 13) c = s.charCodeAt(++this.at);
  }

  /**
   * One value, containers included. They nest on an explicit stack, not the call stack:
   * PostgreSQL returns json nested ~20,000 deep (with its default `max_stack_depth`), which
   * `JSON.parse` reads and recursion here could not.
   */
  value(): unknown {
    const s = this.s;
    // The innermost open container, and the key its next value goes to (undefined: an array).
    let cur: Record<string, unknown> | unknown[] | undefined;
    let key: string | undefined;
    // The containers around it, with their keys.
    const outer: (Record<string, unknown> | unknown[] | string | undefined)[] = [];
    for (;;) {
      this.space();
      const c = s.charCodeAt(this.at);
      let v: unknown;
      if (c === 123 || c === 91) {
        const close = c + 2; // } and ]
        const container = c === 123 ? {} : [];
        if (!this.empty(close)) {
          if (cur !== undefined) outer.push(cur, key);
          cur = container;
          key = c === 123 ? this.key() : undefined;
          continue;
        }
        v = container;
      } else v = this.scalar(c);
      // Put the value in its container; a container that ends is the value for the one around it.
      for (;;) {
        if (cur === undefined) return v;
        if (key === undefined) {
          (cur as unknown[]).push(v);
          if (this.more(93)) break;
        } else {
          // JSON.parse defines properties: `__proto__` is an own key, not the prototype. A
          // repeated key keeps its first place and takes the last value, as assignment does.
          if (key === '__proto__') Object.defineProperty(cur, key, { value: v, writable: true, enumerable: true, configurable: true });
          else (cur as Record<string, unknown>)[key] = v;
          if (this.more(125)) {
            key = this.key();
            break;
          }
        }
        v = cur;
        key = outer.pop() as string | undefined;
        cur = outer.pop() as Record<string, unknown> | unknown[] | undefined;
      }
    }
  }

  private scalar(c: number): unknown {
    if (c === 34) return this.string();
    if (c === 45 || (c >= 48 && c <= 57)) return this.number();
    if (this.word('true')) return true;
    if (this.word('false')) return false;
    if (this.word('null')) return null;
    return this.fail();
  }

  private word(w: string): boolean {
    if (!this.s.startsWith(w, this.at)) return false;
    this.at += w.length;
    return true;
  }

  /** Steps into a container; whether it is empty (its `close` then taken too). */
  private empty(close: number): boolean {
    this.at++;
    this.space();
    if (this.s.charCodeAt(this.at) !== close) return false;
    this.at++;
    return true;
  }

  /** After a container's element: true at `,`, false at its `close` (either taken). */
  private more(close: number): boolean {
    this.space();
    const c = this.s.charCodeAt(this.at);
    if (c !== 44 && c !== close) this.fail();
    this.at++;
    return c === 44;
  }

  /** An object member's key and its `:`. */
  private key(): string {
    this.space();
    if (this.s.charCodeAt(this.at) !== 34) this.fail();
    const key = this.string();
    this.space();
    if (this.s.charCodeAt(this.at) !== 58) this.fail();
    this.at++;
    return key;
  }

  private string(): string {
    const s = this.s;
    const from = this.at;
    const quote = s.indexOf('"', from + 1);
    if (quote < 0) this.fail();
    if (this.backslash !== -1 && this.backslash < from) this.backslash = s.indexOf('\\', from);
    if (this.backslash === -1 || this.backslash > quote) {
      this.at = quote + 1;
      return s.slice(from + 1, quote);
    }
    let i = from + 1;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 34) break;
      if (Number.isNaN(c)) this.fail();
      i += c === 92 ? 2 : 1;
    }
    this.at = i + 1;
    // Escapes (\uXXXX, lone surrogates included) are JSON.parse's to read, on this token alone.
    return JSON.parse(s.slice(from, i + 1)) as string;
  }

  private number(): number | bigint {
    const s = this.s;
    const from = this.at;
    let i = from;
    const negative = s.charCodeAt(i) === 45;
    if (negative) i++;
    const digits = i;
    // The integer part's value, exact while it has at most 15 digits.
    let v = 0;
    let c = s.charCodeAt(i);
    while (c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      c = s.charCodeAt(++i);
    }
    if (i === digits) this.fail();
    let integer = true;
    if (c === 46) {
      integer = false;
      c = s.charCodeAt(++i);
      while (c >= 48 && c <= 57) c = s.charCodeAt(++i);
    }
    if (c === 101 || c === 69) {
      integer = false;
      c = s.charCodeAt(++i);
      if (c === 43 || c === 45) c = s.charCodeAt(++i);
      while (c >= 48 && c <= 57) c = s.charCodeAt(++i);
    }
    this.at = i;
    // Most numbers are short integers: no slice, no Number(); `-v` keeps -0.
    if (integer && i - digits <= 15) return negative ? -v : v;
    const text = s.slice(from, i);
    const n = Number(text);
    // Beyond 15 digits, the double says whether the integer was exact.
    if (integer && (n > MAX_SAFE || n < -MAX_SAFE)) return BigInt(text);
    return n;
  }
}
