/**
 * node-postgres' `Result`: what a query resolves to, with the same own properties.
 * @module
 */
import { readColumnMeta, type Column } from '../result/decode';

/** A column as pg describes it (`result.fields`). */
export interface FieldDef {
  name: string;
  tableID: number;
  columnID: number;
  dataTypeID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
  format: 'text' | 'binary';
}

// The command word and up to two numbers of a tag, as pg reads it.
const TAG = /^([A-Za-z]+)(?: (\d+))?(?: (\d+))?/;

/**
 * The result of one statement.
 *
 * @example
 * ```ts
 * const res = await pool.query('insert into t (a) values ($1) returning id', [1]);
 * res.command;  // 'INSERT'
 * res.rowCount; // 1
 * res.rows;     // [{ id: 7 }]
 * res.fields;   // [{ name: 'id', dataTypeID: 23, ... }]
 * ```
 */
export class Result<R = Record<string, unknown>> {
  /** The first word of the server's tag: `SELECT`, `INSERT`, `CREATE`... (`ROLLBACK` for a COMMIT that rolled back). */
  command: string | null = null;
  /** Rows returned or affected; null for commands whose tag has no count. */
  rowCount: number | null = null;
  /** The OID in an `INSERT` tag (always 0 nowadays). */
  oid: number | null = null;
  rows: R[] = [];
  fields: FieldDef[] = [];
  /** Whether rows are arrays (`rowMode: 'array'`). */
  rowAsArray: boolean;

  constructor(rowMode?: string) {
    this.rowAsArray = rowMode === 'array';
  }

  /** Reads the server's command tag. */
  addCommandComplete(tag: string): void {
    const m = TAG.exec(tag);
    if (m === null) return;
    this.command = m[1];
    if (m[3] !== undefined) {
      this.oid = parseInt(m[2], 10);
      this.rowCount = parseInt(m[3], 10);
    } else if (m[2] !== undefined) {
      this.rowCount = parseInt(m[2], 10);
    }
  }

  /** Appends a row (for `Query` users that build results themselves). */
  addRow(row: R): void {
    this.rows.push(row);
  }
}

/** A Result from a decoded statement: its tag, rows and column descriptors. */
export function makeResult<R>(tag: string, rows: R[], meta: Buffer | undefined, rowMode: string | undefined): Result<R> {
  const r = new Result<R>(rowMode);
  r.addCommandComplete(tag);
  r.rows = rows;
  r.fields = fieldsOf(meta);
  return r;
}

/** The columns read from a descriptor copy, which a statement run again shares (`copyMeta` in decode). */
const columnsOf = new WeakMap<Buffer, Column[]>();

function fieldsOf(meta: Buffer | undefined): FieldDef[] {
  if (meta === undefined) return [];
  let columns = columnsOf.get(meta);
  if (columns === undefined) columnsOf.set(meta, (columns = readColumnMeta(meta)));
  // Fresh objects per result, as pg makes them: a caller may change its own.
  return columns.map((c) => ({
    name: c.name,
    tableID: c.table,
    columnID: c.number,
    dataTypeID: c.type,
    dataTypeSize: (c as { size?: number }).size ?? -1,
    dataTypeModifier: c.typeModifier,
    format: 'text' as const,
  }));
}
