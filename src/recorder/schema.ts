// The capture file: one SQLite database, its schema and the migrations that built it.
// Opening a capture is where the user's mistakes surface (wrong file, truncated copy,
// capture from a newer graphtap), so every such case becomes a one-line UserError.
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { UserError } from "../errors.js";

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

// Column order matters for scans: SQLite reads a row's columns left to right and a big
// body spills onto overflow pages, so the small columns that summaries() reads come
// first and headers/bodies last. A scan that stops before the blobs never touches them.
const V1 = `
CREATE TABLE sessions (
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL CHECK (kind IN ('proxy', 'replay', 'import', 'demo')),
  started_at    REAL NOT NULL,          -- epoch ms
  ended_at      REAL,                   -- epoch ms, NULL while running (or after a crash)
  tool_version  TEXT,
  label         TEXT,
  args          TEXT,                   -- JSON
  source        TEXT                    -- what a replay/import read from
);

CREATE TABLE identities (
  token_hash     TEXT PRIMARY KEY,      -- never the token itself
  identity_key   TEXT NOT NULL,
  kind           TEXT NOT NULL,         -- user | app | anonymous | opaque
  tenant_id      TEXT,
  object_id      TEXT,
  upn            TEXT,
  app_id         TEXT,
  guest          INTEGER NOT NULL DEFAULT 0,
  idp            TEXT,
  home_tenant_id TEXT,
  claims         TEXT NOT NULL DEFAULT '{}',  -- JSON, kept claims only
  iat            INTEGER,               -- epoch s, from the claims
  exp            INTEGER,
  first_seen     REAL,                  -- epoch ms of the first exchange carrying it
  last_seen      REAL
);
CREATE INDEX identities_key ON identities (identity_key);

CREATE TABLE exchanges (
  seq                    INTEGER PRIMARY KEY AUTOINCREMENT,  -- write order, never reused
  id                     TEXT NOT NULL UNIQUE,
  session_id             TEXT NOT NULL,
  parent_id              TEXT,
  part_id                TEXT,
  source_id              TEXT,
  started_at             REAL NOT NULL,  -- epoch ms
  duration_ms            REAL NOT NULL,
  ttfb_ms                REAL,
  method                 TEXT NOT NULL,
  url                    TEXT NOT NULL,
  host                   TEXT,
  path                   TEXT,
  http_version           TEXT NOT NULL,
  status                 INTEGER,
  status_text            TEXT,
  error_code             TEXT,
  error_message          TEXT,
  error_phase            TEXT,
  token_hash             TEXT,
  identity_key           TEXT,
  request_id             TEXT,
  client_request_id      TEXT,
  graph_error_code       TEXT,
  graph_error_message    TEXT,
  graph_inner_error_code TEXT,
  ags_diagnostic         TEXT,
  data_center            TEXT,
  scale_unit             TEXT,
  upstream_url           TEXT,
  client_address         TEXT,
  depends_on             TEXT,           -- JSON array
  req_content_type       TEXT,
  req_body_size          INTEGER,        -- wire size; NULL when there was no body
  req_body_truncated     INTEGER,
  req_body_encoding      TEXT,
  res_content_type       TEXT,
  res_body_size          INTEGER,
  res_body_truncated     INTEGER,
  res_body_encoding      TEXT,
  req_headers            TEXT NOT NULL,  -- JSON [[name, value], ...]
  res_headers            TEXT NOT NULL,
  req_body               BLOB,
  res_body               BLOB
);
-- Readers always return (started_at, seq) order; the filter columns carry that order
-- in their indexes so a filtered read streams from the index instead of sorting.
CREATE INDEX exchanges_time     ON exchanges (started_at, seq);
CREATE INDEX exchanges_session  ON exchanges (session_id, started_at, seq);
CREATE INDEX exchanges_identity ON exchanges (identity_key, started_at, seq);
CREATE INDEX exchanges_status   ON exchanges (status, started_at, seq);
CREATE INDEX exchanges_host     ON exchanges (host, started_at, seq);
CREATE INDEX exchanges_source   ON exchanges (source_id) WHERE source_id IS NOT NULL;
CREATE INDEX exchanges_parent   ON exchanges (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE tunnels (
  id             TEXT PRIMARY KEY,
  session_id     TEXT NOT NULL,
  host           TEXT NOT NULL,
  port           INTEGER NOT NULL,
  started_at     REAL NOT NULL,
  duration_ms    REAL NOT NULL,
  bytes_up       INTEGER NOT NULL,
  bytes_down     INTEGER NOT NULL,
  error_code     TEXT,
  error_message  TEXT,
  error_phase    TEXT,
  client_address TEXT
);
CREATE INDEX tunnels_session ON tunnels (session_id, started_at);
CREATE INDEX tunnels_time    ON tunnels (started_at);
`;

/** Applied in order; a released migration is never edited, only followed by a new one. */
export const MIGRATIONS: readonly Migration[] = [{ version: 1, name: "initial schema", sql: V1 }];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  applied_at TEXT NOT NULL
)`;

/** 'gtap': lets `file` and other tools tell a capture from any SQLite file. */
const APPLICATION_ID = 0x67746170;

const BUSY_TIMEOUT_MS = 5000;

export interface OpenOptions {
  /** Open read-only (analyze, replay source, export). */
  readonly?: boolean;
  /** Create the file (and its folder) when missing, and initialise an empty database. */
  create?: boolean;
}

/**
 * Opens a capture, checking that it is one and bringing its schema up to date.
 * Throws UserError for every problem with the file itself.
 */
export function openCapture(file: string, opts: OpenOptions = {}): Database.Database {
  const readonly = opts.readonly === true;
  const create = opts.create === true && !readonly;

  const size = checkFile(file, create);
  if (size === undefined) {
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new UserError(`cannot create the folder for ${file}: ${e.code ?? e.message} (choose a writable path)`);
    }
  }

  let db: Database.Database;
  try {
    db = new Database(file, { readonly, fileMustExist: !create });
  } catch (err) {
    throw captureError(file, err);
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (!readonly) {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
    }
    const version = schemaVersion(db, file, create);
    if (version > SCHEMA_VERSION) {
      throw new UserError(
        `${file} was written by a newer graphtap (schema ${version}; this build reads up to ${SCHEMA_VERSION}): upgrade graphtap`,
      );
    }
    if (version < SCHEMA_VERSION) {
      if (readonly) {
        // A read-only handle cannot migrate: do it through a short-lived writable one.
        db.close();
        upgradeInPlace(file, version);
        db = new Database(file, { readonly: true, fileMustExist: true });
        db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      } else {
        migrate(db);
      }
    }
    return db;
  } catch (err) {
    if (db.open) db.close();
    throw captureError(file, err);
  }
}

/**
 * Checks what is on disk before SQLite sees it: SQLite opens almost anything lazily
 * and reports a truncated copy only when a missing page is finally read.
 * Returns the file size, or undefined when the file does not exist (and may be created).
 */
function checkFile(file: string, create: boolean): number | undefined {
  if (!existsSync(file)) {
    if (create) return undefined;
    throw new UserError(`${file} does not exist`);
  }
  const st = statSync(file);
  if (st.isDirectory()) throw new UserError(`${file} is a directory, not a graphtap capture`);
  if (st.size === 0) {
    // SQLite treats an empty file as an empty database: fine to initialise, not to read.
    if (create) return 0;
    throw new UserError(`${file} is not a graphtap capture: the file is empty`);
  }
  const head = Buffer.alloc(100);
  const fd = openSync(file, "r");
  let got: number;
  try {
    got = readSync(fd, head, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  if (got < 16 || head.toString("latin1", 0, 16) !== "SQLite format 3\0") {
    throw new UserError(`${file} is not a graphtap capture: not an SQLite database`);
  }
  if (got < 100) throw new UserError(`${file} is corrupt: the SQLite header is cut short`);

  const rawPageSize = head.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const pages = head.readUInt32BE(28);
  // The page count in the header is only valid when these two counters agree.
  const countValid = pages > 0 && head.readUInt32BE(24) === head.readUInt32BE(92);
  // With a non-empty WAL the newest pages live there; the main file may lag behind.
  const walSize = existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0;
  if (countValid && walSize === 0 && st.size < pages * pageSize) {
    throw new UserError(
      `${file} is corrupt: the file is truncated (${st.size} bytes, the header expects ${pages * pageSize})`,
    );
  }
  return st.size;
}

/** The applied schema version; 0 for an empty database that may be initialised. */
function schemaVersion(db: Database.Database, file: string, create: boolean): number {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .pluck()
    .all() as string[];
  if (!tables.includes("schema_migrations")) {
    if (tables.length === 0 && create) return 0;
    // Never write graphtap tables into somebody else's database.
    throw new UserError(
      tables.length === 0
        ? `${file} is not a graphtap capture: an SQLite database with no tables`
        : `${file} is not a graphtap capture: an SQLite database without graphtap tables`,
    );
  }
  const v = db.prepare("SELECT max(version) FROM schema_migrations").pluck().get();
  return typeof v === "number" ? v : 0;
}

/** Applies every pending migration, each in its own transaction with its record. */
export function migrate(db: Database.Database): number[] {
  const applied: number[] = [];
  db.exec(MIGRATIONS_TABLE);
  const current = db.prepare("SELECT max(version) FROM schema_migrations").pluck();
  const record = db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
  for (const m of MIGRATIONS) {
    // IMMEDIATE: two processes opening a new capture at once must not both migrate.
    db.transaction(() => {
      const v = current.get();
      if (typeof v === "number" && v >= m.version) return;
      if (m.version === 1) db.pragma(`application_id = ${APPLICATION_ID}`);
      db.exec(m.sql);
      record.run(m.version, new Date().toISOString());
      applied.push(m.version);
    }).immediate();
  }
  return applied;
}

function upgradeInPlace(file: string, from: number): void {
  let rw: Database.Database | undefined;
  try {
    rw = new Database(file, { fileMustExist: true });
    rw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    migrate(rw);
  } catch (err) {
    const inner = captureError(file, err);
    if (inner instanceof UserError) throw inner;
    throw new UserError(
      `${file} has schema ${from} and needs an upgrade to ${SCHEMA_VERSION} that failed: ${(err as Error).message}`,
    );
  } finally {
    rw?.close();
  }
}

/**
 * Turns an SQLite failure about the file into a one-line UserError; anything else
 * (a bug) is returned unchanged so it still shows its stack.
 */
export function captureError(file: string, err: unknown): Error {
  if (err instanceof UserError) return err;
  if (!(err instanceof Error)) return new Error(String(err));
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return err;
  if (code === "SQLITE_NOTADB") {
    return new UserError(`${file} is not a graphtap capture: not an SQLite database`);
  }
  if (code.startsWith("SQLITE_CORRUPT")) return new UserError(`${file} is corrupt: ${err.message}`);
  if (code.startsWith("SQLITE_CANTOPEN")) return new UserError(`cannot open ${file}: ${err.message}`);
  if (code.startsWith("SQLITE_READONLY")) return new UserError(`${file} is read-only: ${err.message}`);
  if (code === "SQLITE_FULL") return new UserError(`cannot write ${file}: the disk is full`);
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return new UserError(`${file} is locked by another process: ${err.message}`);
  }
  if (code.startsWith("SQLITE_IOERR")) return new UserError(`cannot read or write ${file}: ${err.message}`);
  return err;
}
