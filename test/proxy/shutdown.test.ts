// SIGINT / SIGTERM under load: every exchange whose response the client received
// completely is in the SQLite file, and the process exits 0.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { query } from "../helpers/capture.js";
import { startCliProxy, type CliProxy } from "../helpers/cli.js";
import { proxyAgent, viaProxy } from "../helpers/client.js";
import { tempDir } from "../helpers/tmp.js";
import { graphHandler, startUpstream, type TestUpstream } from "../helpers/upstream.js";

const TOTAL = 500;
const CONCURRENCY = 16;
const SIGNAL_AFTER = 80;

let dir: string;
let upstream: TestUpstream;
const proxies: CliProxy[] = [];

beforeAll(async () => {
  dir = tempDir();
  upstream = await startUpstream(graphHandler({ requests: [], streams: [] }));
  upstream.writeCa(dir);
});

afterAll(async () => {
  for (const p of proxies) await p.stop("SIGKILL");
  await upstream?.close();
});

describe("shutdown under load", () => {
  it.each(["SIGINT", "SIGTERM"] as const)("%s: exit 0 and every completed response is recorded", async (signal) => {
    const proxy = await startCliProxy({
      home: join(dir, "home"),
      db: join(dir, `${signal}.sqlite`),
      args: ["--upstream", `graph.microsoft.com=${upstream.url}`, "--upstream-ca", join(dir, "upstream-ca.pem")],
    });
    proxies.push(proxy);
    const agent = proxyAgent(proxy.url, proxy.caPem);
    const completed: string[] = [];
    let failed = 0;
    let next = 0;
    let signalled: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        const marker = `load-${signal}-${next++}`;
        try {
          const reply = await viaProxy(agent, `https://graph.microsoft.com/v1.0/me?via=${marker}`);
          // Complete: the status and the whole JSON body arrived.
          if (reply.status === 200 && (JSON.parse(reply.body.toString()) as { path?: string }).path?.endsWith(marker)) {
            completed.push(marker);
          } else {
            failed++;
          }
        } catch {
          failed++;
        }
        if (completed.length >= SIGNAL_AFTER && !signalled) signalled = proxy.stop(signal);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await agent.close();
    expect(signalled).toBeDefined();
    const exit = await signalled!;
    expect(exit).toEqual({ code: 0, signal: null });
    // The signal landed while requests were still running.
    expect(completed.length).toBeGreaterThanOrEqual(SIGNAL_AFTER);
    expect(completed.length).toBeLessThan(TOTAL);
    expect(failed).toBeGreaterThan(0);

    const urls = new Set(
      query(proxy.db, "SELECT url FROM exchanges WHERE instr(url, ?) > 0", `load-${signal}-`).map((r) => String(r.url)),
    );
    const missing = completed.filter((m) => !urls.has(`https://graph.microsoft.com/v1.0/me?via=${m}`));
    expect(missing).toEqual([]);
    expect(urls.size).toBeGreaterThanOrEqual(completed.length);
    const [session] = query(proxy.db, "SELECT ended_at FROM sessions");
    expect(session!.ended_at).not.toBeNull();
    expect(proxy.stderr()).not.toMatch(/unexpected error|dropped|lost/i);
  });
});
