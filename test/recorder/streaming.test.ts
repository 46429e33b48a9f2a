import { describe, expect, it } from "vitest";
import { CaptureReader, CaptureWriter } from "../../src/recorder/index.js";
import { BASE_TIME, makeExchange, tempCapture } from "./helpers.js";

const ROWS = 50_000;
const BODY = 1024;

describe("streaming reads", () => {
  it("walks 50k exchanges in order without loading them, and stops early cleanly", () => {
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    const session = w.startSession({ kind: "import" });
    for (let i = 0; i < ROWS; i++) {
      // Start times run backwards in blocks so order comes from the index, not the insert.
      const startedAt = BASE_TIME + (ROWS - i) * 10;
      w.write(
        makeExchange({
          sessionId: session,
          startedAt,
          status: i % 7 === 0 ? 403 : 200,
          responseBody: { bytes: Buffer.alloc(BODY, i % 256), wireSize: BODY, truncated: false },
        }),
      );
    }
    w.close();
    expect(w.written).toBe(ROWS);

    const r = CaptureReader.open(file);
    // The whole table's bodies are ~50 MB; reading a few rows must not pull them in.
    const before = process.memoryUsage().arrayBuffers;
    const it = r.exchanges();
    const firstFew = [];
    for (const ex of it) {
      firstFew.push(ex);
      if (firstFew.length === 100) break;
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(firstFew).toHaveLength(100);
    expect(firstFew[0]!.startedAt).toBe(BASE_TIME + 10);
    expect(grown).toBeLessThan(10 * 1024 * 1024);
    // Breaking out released the statement: the same scan runs again at once.
    expect(it.next().done).toBe(true);
    const abandoned = r.exchanges();
    expect(abandoned.next().value?.startedAt).toBe(BASE_TIME + 10);

    let n = 0;
    let last = -Infinity;
    let ordered = true;
    for (const s of r.summaries()) {
      if (s.startedAt < last) ordered = false;
      last = s.startedAt;
      n++;
    }
    expect(n).toBe(ROWS);
    expect(ordered).toBe(true);
    expect(r.count({ status: 403 })).toBe(Math.ceil(ROWS / 7));
    let forbidden = 0;
    for (const s of r.summaries({ sessionId: session, status: 403 })) if (s.status === 403) forbidden++;
    expect(forbidden).toBe(Math.ceil(ROWS / 7));
    // A scan left half-way (or never started) does not keep the file from closing.
    const neverStarted = r.summaries();
    r.close();
    expect(abandoned.next().done).toBe(true);
    expect(neverStarted.next().done).toBe(true);
  });
});
