/**
 * SQL texts registered with the engine by id, so a repeated statement sends 4 bytes.
 * @module
 */

/**
 * At most this many texts, and this many UTF-16 units in all; the oldest is forgotten (on
 * both sides) to make room. Longer texts (ORMs' IN lists of every length) are sent whole
 * each time, never kept.
 */
const MAX_SQL_IDS = 4096;
const MAX_SQL_UNITS = 2 * 1024 * 1024;
const MAX_REGISTERED_LENGTH = 16 * 1024;

/** The JavaScript side of the registry; the engine keeps the same texts by the same ids. */
export class SqlRegistry {
  private readonly ids = new Map<string, number>();
  private units = 0;
  private nextId = 1;

  /** The id of a text registered earlier. */
  known(sql: string): number | undefined {
    return this.ids.get(sql);
  }

  /**
   * Registers `sql` (unless it is empty or too long), first forgetting the oldest texts until
   * it fits: `forget(id)` must tell the engine, before the request that registers `sql`.
   */
  register(sql: string, forget: (id: number) => void): number | undefined {
    if (sql.length === 0 || sql.length > MAX_REGISTERED_LENGTH) return undefined;
    for (const [text, id] of this.ids) {
      if (this.ids.size < MAX_SQL_IDS && this.units + sql.length <= MAX_SQL_UNITS) break;
      this.ids.delete(text);
      this.units -= text.length;
      forget(id);
    }
    const id = this.nextId++;
    this.ids.set(sql, id);
    this.units += sql.length;
    return id;
  }

  /** Takes back a registration the engine never saw (its request was not sent). */
  unregister(sql: string): void {
    if (this.ids.delete(sql)) this.units -= sql.length;
  }
}
