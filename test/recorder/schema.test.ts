import { closeSync, existsSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { CaptureReader, CaptureWriter, MIGRATIONS, SCHEMA_VERSION, openCapture } from "../../src/recorder/index.js";
import { makeExchange, tempCapture, tempDir } from "./helpers.js";

/** Opens the capture and reads every row: some damage only shows when a page is read. */
function openAndScan(file: string): void {
  const reader = CaptureReader.open(file);
  try {
    for (const ex of reader.exchanges()) void ex;
  } finally {
    reader.close();
  }
}

function userError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return err as UserError;
  }
  throw new Error("expected a UserError");
}

function filledCapture(rows: number): string {
  const file = tempCapture();
  const w = CaptureWriter.open(file);
  w.startSession({ kind: "demo" });
  for (let i = 0; i < rows; i++) {
    w.write(makeExchange({ startedAt: 1_000 + i, responseBody: { bytes: Buffer.alloc(300, i % 251), wireSize: 300, truncated: false } }));
  }
  w.close();
  return file;
}

describe("openCapture", () => {
  it("creates the file and its folder, in WAL mode, and records the migrations", () => {
    const file = join(tempDir(), "a", "b", "capture.sqlite");
    const db = openCapture(file, { create: true });
    try {
      expect(existsSync(file)).toBe(true);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.pragma("synchronous", { simple: true })).toBe(1); // NORMAL
      expect(db.pragma("busy_timeout", { simple: true })).toBeGreaterThan(0);
      const rows = db.prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version").all() as Array<{
        version: number;
        applied_at: string;
      }>;
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(new Date(rows[0]!.applied_at).toISOString()).toBe(rows[0]!.applied_at);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
      expect(tables).toEqual(expect.arrayContaining(["sessions", "identities", "exchanges", "tunnels", "schema_migrations"]));
    } finally {
      db.close();
    }
    // Reopening applies nothing twice.
    const again = openCapture(file, { create: true });
    expect(again.prepare("SELECT count(*) FROM schema_migrations").pluck().get()).toBe(MIGRATIONS.length);
    again.close();
  });

  it("numbers migrations 1..N in order, and SCHEMA_VERSION is the last", () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(SCHEMA_VERSION).toBe(MIGRATIONS[MIGRATIONS.length - 1]!.version);
  });

  it("initialises an empty file when creating, refuses it when reading", () => {
    const file = tempCapture();
    writeFileSync(file, "");
    expect(userError(() => openCapture(file, { readonly: true })).message).toBe(
      `${file} is not a graphtap capture: the file is empty`,
    );
    openCapture(file, { create: true }).close();
    openCapture(file, { readonly: true }).close();
  });

  it("a missing file is a UserError unless creating", () => {
    const file = join(tempDir(), "nope.sqlite");
    expect(userError(() => openCapture(file)).message).toBe(`${file} does not exist`);
    expect(userError(() => CaptureReader.open(file)).message).toBe(`${file} does not exist`);
    expect(existsSync(file)).toBe(false);
  });

  it("a file that is not SQLite is named as such, and is never overwritten", () => {
    const file = tempCapture("notes.txt");
    const text = "these are my notes, not a database\n".repeat(10);
    writeFileSync(file, text);
    const msg = `${file} is not a graphtap capture: not an SQLite database`;
    expect(userError(() => CaptureReader.open(file)).message).toBe(msg);
    expect(userError(() => CaptureWriter.open(file)).message).toBe(msg);
    expect(readFileSync(file, "utf8")).toBe(text);
  });

  it("an SQLite database without graphtap tables is refused, even when creating", () => {
    const file = tempCapture("other.db");
    const other = new Database(file);
    other.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
    other.close();
    expect(userError(() => CaptureReader.open(file)).message).toBe(
      `${file} is not a graphtap capture: an SQLite database without graphtap tables`,
    );
    expect(userError(() => CaptureWriter.open(file)).message).toMatch(/without graphtap tables$/);
    const check = new Database(file, { readonly: true });
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()).toEqual(["customers"]);
    check.close();
  });

  it("a capture from a newer graphtap asks for an upgrade", () => {
    const file = filledCapture(1);
    const db = new Database(file);
    db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)").run(3, new Date().toISOString());
    db.close();
    const msg = `${file} was written by a newer graphtap (schema 3; this build reads up to ${SCHEMA_VERSION}): upgrade graphtap`;
    expect(userError(() => CaptureReader.open(file)).message).toBe(msg);
    expect(userError(() => CaptureWriter.open(file)).message).toBe(msg);
  });

  it("a truncated copy is reported as corrupt", () => {
    const file = filledCapture(2000);
    const size = statSync(file).size;
    truncateSync(file, Math.floor(size / 2));
    const err = userError(() => openAndScan(file));
    expect(err.message).toMatch(new RegExp(`^${escape(file)} is corrupt: `));
    expect(err.message).not.toContain("\n");
  });

  it("a header cut short is reported as corrupt", () => {
    const file = filledCapture(1);
    truncateSync(file, 40);
    expect(userError(() => openAndScan(file)).message).toBe(`${file} is corrupt: the SQLite header is cut short`);
  });

  it("garbage over the pages after the header is reported as corrupt", () => {
    const file = filledCapture(2000);
    const size = statSync(file).size;
    const pageSize = readFileSync(file).readUInt16BE(16);
    const fd = openSync(file, "r+");
    // Keep page 1 (header and schema) so SQLite opens it; everything else is noise.
    const noise = Buffer.alloc(size - pageSize, 0xa5);
    writeSync(fd, noise, 0, noise.length, pageSize);
    closeSync(fd);
    const err = userError(() => openAndScan(file));
    expect(err.message).toMatch(new RegExp(`^${escape(file)} is corrupt: `));
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
