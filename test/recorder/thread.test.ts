// The recorder thread, as the CLI uses it: runs from dist/ (the worker script is
// compiled there), so this test loads the built module.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventEmitter } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import type { Exchange } from "../../src/exchange/types.js";
import { CaptureReader } from "../../src/recorder/reader.js";

const dist = new URL("../../dist/recorder/thread.js", import.meta.url);
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

async function load() {
  if (!existsSync(dist)) throw new Error("dist/ is missing: run `npm run build` (npm test does)");
  return (await import(dist.href)) as typeof import("../../src/recorder/thread.js");
}

function exchange(i: number, sessionId: string): Exchange {
  return {
    id: `EX${String(i).padStart(24, "0")}`,
    sessionId,
    startedAt: 1_780_000_000_000 + i,
    durationMs: 1.5,
    method: "GET",
    url: `https://graph.microsoft.com/v1.0/me?i=${i}`,
    httpVersion: "1.1",
    requestHeaders: [["authorization", "Bearer 0123456789abcdef"]],
    status: 200,
    responseHeaders: [["content-type", "application/json"]],
    responseBody: { bytes: Buffer.from(JSON.stringify({ i })), wireSize: 9, truncated: false },
  };
}

describe("ThreadedCaptureWriter", () => {
  it("records every event on its own thread and has all of it on disk after close()", async () => {
    const { ThreadedCaptureWriter } = await load();
    const dir = mkdtempSync(join(tmpdir(), "graphtap-thread-"));
    dirs.push(dir);
    const file = join(dir, "c.sqlite");
    const writer = await ThreadedCaptureWriter.open(file, { kind: "proxy" });
    const source = new EventEmitter();
    writer.attach(source);
    for (let i = 0; i < 1000; i++) source.emit("exchange", exchange(i, writer.sessionId!));
    source.emit("tunnel", {
      id: "T1", sessionId: writer.sessionId!, host: "example.org", port: 443,
      startedAt: 1_780_000_000_000, durationMs: 3, bytesUp: 10, bytesDown: 20,
    });
    await writer.close();
    expect(writer.written).toBe(1000);
    expect(writer.tunnelsWritten).toBe(1);
    const reader = CaptureReader.open(file);
    try {
      expect(reader.count()).toBe(1000);
      const last = reader.exchange(exchange(999, "").id)!;
      expect(Buffer.isBuffer(last.responseBody?.bytes)).toBe(true);
      expect(JSON.parse(last.responseBody!.bytes.toString())).toEqual({ i: 999 });
      expect(reader.sessions()[0]?.endedAt).toBeTypeOf("number");
    } finally {
      reader.close();
    }
  });

  it("reports a file that is not a capture as a one-line user error", async () => {
    const { ThreadedCaptureWriter } = await load();
    const dir = mkdtempSync(join(tmpdir(), "graphtap-thread-"));
    dirs.push(dir);
    const file = join(dir, "not-a-capture.sqlite");
    writeFileSync(file, "hello, this is text\n".repeat(10));
    await expect(ThreadedCaptureWriter.open(file, { kind: "proxy" })).rejects.toMatchObject({
      name: "UserError",
      message: expect.stringMatching(/not a graphtap capture/),
    });
  });
});
