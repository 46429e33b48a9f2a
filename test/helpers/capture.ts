// Reading a capture the way an outside check would: plain SQL on the SQLite file.
import Database from "better-sqlite3";

export type Row = Record<string, unknown>;

export function query(db: string, sql: string, ...params: unknown[]): Row[] {
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  try {
    conn.pragma("busy_timeout = 2000");
    return conn.prepare(sql).all(...params) as Row[];
  } finally {
    conn.close();
  }
}

/** Polls until `sql` returns at least `count` rows (the writer batches every ~20 ms). */
export async function waitForRows(db: string, sql: string, params: unknown[] = [], count = 1, timeoutMs = 5000): Promise<Row[]> {
  const deadline = Date.now() + timeoutMs;
  let rows: Row[] = [];
  for (;;) {
    try {
      rows = query(db, sql, ...params);
    } catch {
      rows = []; // the file may not exist yet
    }
    if (rows.length >= count || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The newest exchange whose url contains `marker` (waits for it). */
export async function exchangeRow(db: string, marker: string, timeoutMs = 5000): Promise<Row> {
  const rows = await waitForRows(db, "SELECT * FROM exchanges WHERE instr(url, ?) > 0 ORDER BY seq DESC", [marker], 1, timeoutMs);
  const row = rows[0];
  if (!row) throw new Error(`no exchange with ${marker} in ${db}`);
  return row;
}

export function headersOf(row: Row, column: "req_headers" | "res_headers"): Array<[string, string]> {
  return JSON.parse(String(row[column])) as Array<[string, string]>;
}

export function headerValue(row: Row, column: "req_headers" | "res_headers", name: string): string | undefined {
  return headersOf(row, column).find(([k]) => k === name)?.[1];
}
