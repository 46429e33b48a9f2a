import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { newId } from "../../src/exchange/id.js";
import type { Exchange } from "../../src/exchange/types.js";

const dirs: string[] = [];

/** A fresh folder under os.tmpdir(), removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "graphtap-recorder-"));
  dirs.push(dir);
  return dir;
}

export function tempCapture(name = "capture.sqlite"): string {
  return join(tempDir(), name);
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export const BASE_TIME = Date.UTC(2026, 1, 10, 9, 0, 0);

/** A minimal completed GET; override what the test cares about. */
export function makeExchange(over: Partial<Exchange> = {}): Exchange {
  return {
    id: newId(),
    sessionId: "S1",
    startedAt: BASE_TIME,
    durationMs: 12,
    method: "GET",
    url: "https://graph.microsoft.com/v1.0/me",
    httpVersion: "1.1",
    requestHeaders: [["host", "graph.microsoft.com"]],
    status: 200,
    statusText: "OK",
    responseHeaders: [["content-type", "application/json"]],
    ...over,
  };
}

/** A JWT with the given payload (unsigned: graphtap never checks signatures). */
export function jwt(payload: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(payload)}.c2lnbmF0dXJlLXNlY3JldC1zaWduYXR1cmU`;
}
