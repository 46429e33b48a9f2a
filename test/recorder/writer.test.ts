import { EventEmitter } from "node:events";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it, vi } from "vitest";
import { newId } from "../../src/exchange/id.js";
import type { TunnelRecord } from "../../src/exchange/types.js";
import { CaptureReader, CaptureWriter } from "../../src/recorder/index.js";
import { BASE_TIME, makeExchange, tempCapture } from "./helpers.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rows visible to another connection, i.e. committed. */
function committed(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare("SELECT count(*) FROM exchanges").pluck().get() as number;
  } finally {
    db.close();
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("CaptureWriter batching", () => {
  it("only queues on write, and commits a full batch of 256 in one transaction", () => {
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    w.startSession({ kind: "proxy" });
    for (let i = 0; i < 255; i++) w.write(makeExchange({ startedAt: BASE_TIME + i }));
    expect(w.pending).toBe(255);
    expect(w.written).toBe(0);
    expect(committed(file)).toBe(0);

    w.write(makeExchange());
    expect(w.flushes).toBe(1);
    expect(w.written).toBe(256);
    expect(w.pending).toBe(0);
    expect(committed(file)).toBe(256);
    w.close();
  });

  it("flushes a partial batch 20 ms after its first item, in one transaction", async () => {
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    for (let i = 0; i < 5; i++) w.write(makeExchange());
    w.writeTunnel({ id: newId(), sessionId: "S1", host: "login.live.com", port: 443, startedAt: BASE_TIME, durationMs: 1, bytesUp: 1, bytesDown: 2 });
    expect(w.pending).toBe(6);
    await sleep(5);
    expect(w.pending).toBe(6);
    await vi.waitFor(() => expect(w.pending).toBe(0), { timeout: 2000, interval: 5 });
    expect(w.flushes).toBe(1);
    expect(w.written).toBe(5);
    expect(w.tunnelsWritten).toBe(1);
    expect(committed(file)).toBe(5);
    w.close();
  });

  it("writes every exchange sent, in batches", async () => {
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    const sent = 1000;
    for (let i = 0; i < sent; i++) w.write(makeExchange({ startedAt: BASE_TIME + i }));
    expect(w.flushes).toBe(3); // 3 × 256 at once, 232 left for the timer
    expect(w.pending).toBe(sent - 3 * 256);
    await vi.waitFor(() => expect(w.pending).toBe(0), { timeout: 2000, interval: 5 });
    expect(w.flushes).toBe(4);
    expect(w.written).toBe(sent);
    w.close();
    const r = CaptureReader.open(file);
    expect(r.count()).toBe(sent);
    r.close();
  });

  it("close() writes everything still queued, ends the session, and can be called twice", () => {
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    const session = w.startSession({ kind: "proxy", label: "closing" });
    expect(w.sessionId).toBe(session);
    for (let i = 0; i < 10; i++) w.write(makeExchange({ sessionId: session }));
    w.close();
    w.close();
    expect(w.written).toBe(10);
    w.write(makeExchange());
    expect(w.dropped).toBe(1);

    const r = CaptureReader.open(file);
    const [s] = r.sessions();
    expect(s).toMatchObject({ id: session, kind: "proxy", label: "closing", exchanges: 10 });
    expect(s!.endedAt).toBeTypeOf("number");
    r.close();
  });

  it("records what an attached emitter emits, and detaches on close", () => {
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    const proxy = new EventEmitter();
    w.attach(proxy);
    const tunnel: TunnelRecord = { id: newId(), sessionId: "S1", host: "example.org", port: 443, startedAt: BASE_TIME, durationMs: 9, bytesUp: 10, bytesDown: 20 };
    proxy.emit("exchange", makeExchange());
    proxy.emit("exchange", makeExchange());
    proxy.emit("tunnel", tunnel);
    w.close();
    expect(proxy.listenerCount("exchange")).toBe(0);
    expect(proxy.listenerCount("tunnel")).toBe(0);
    const r = CaptureReader.open(file);
    expect(r.count()).toBe(2);
    expect([...r.tunnels()]).toStrictEqual([tunnel]);
    r.close();
  });
});

describe("CaptureWriter failures", () => {
  it("reports a failing write once on stderr, as one line, and never throws", () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    w.write(makeExchange());
    w.flush();
    // Another process breaks the file under the writer.
    const other = new Database(file);
    other.exec("DROP TABLE exchanges");
    other.close();

    expect(() => {
      for (let i = 0; i < 600; i++) w.write(makeExchange());
      w.flush();
    }).not.toThrow();
    expect(w.written).toBe(1);
    expect(w.dropped).toBe(600);
    expect(() => w.close()).not.toThrow();

    expect(stderr).toHaveBeenCalledTimes(1);
    const line = String(stderr.mock.calls[0]![0]);
    expect(line).toMatch(new RegExp(`^graphtap: could not record to .*capture\\.sqlite: .*no such table`));
    expect(line.indexOf("\n")).toBe(line.length - 1);
  });

  it("keeps the batch while another process holds the lock, and writes it once freed", async () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const file = tempCapture();
    const w = CaptureWriter.open(file, { busyTimeoutMs: 10 });
    const other = new Database(file);
    other.exec("BEGIN IMMEDIATE");
    for (let i = 0; i < 5; i++) w.write(makeExchange());
    w.flush();
    expect(w.pending).toBe(5);
    expect(w.written).toBe(0);
    other.exec("COMMIT");
    other.close();
    await vi.waitFor(() => expect(w.written).toBe(5), { timeout: 3000, interval: 20 });
    expect(w.dropped).toBe(0);
    w.close();
    expect(stderr).not.toHaveBeenCalled();
    expect(committed(file)).toBe(5);
  });

  it("refuses a duplicate id without losing the rest of its batch", () => {
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    const ex = makeExchange();
    w.write(ex);
    w.write(makeExchange());
    w.write(ex);
    w.write(makeExchange());
    w.close();
    expect(w.written).toBe(3);
    expect(w.dropped).toBe(1);
    expect(committed(file)).toBe(3);
  });
});
