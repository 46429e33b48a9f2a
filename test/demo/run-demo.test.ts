// runDemo in-process, in --live mode: what it returns matches what it printed, the
// live line of every exchange passes through, and both servers are closed when it returns.
import { existsSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { runDemo } from "../../src/demo/run.js";
import { tempDir } from "../helpers/tmp.js";

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

describe("runDemo (in-process, --live)", () => {
  it("returns the ports it printed, shows live lines, names the catalyst, and closes both servers", async () => {
    const outDir = join(tempDir("graphtap-rundemo-"), "out");
    const out = new PassThrough();
    let text = "";
    out.setEncoding("utf8").on("data", (d: string) => (text += d));
    const result = await runDemo({ outDir, cycles: 1, warmForMs: 300, out, color: false, live: true });

    const simPort = Number(/simulated tenant .* on https:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1]);
    const proxyPort = Number(/graphtap proxy on http:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1]);
    expect(result.simPort).toBe(simPort);
    expect(result.proxyPort).toBe(proxyPort);
    expect(result.proxyPort).toBeGreaterThan(0);
    expect(await refused(result.simPort)).toBe(true);
    expect(await refused(result.proxyPort)).toBe(true);

    // --live: the proxy's own line for each exchange instead of the narrated steps.
    expect(text).toMatch(/GET\s+401 graph\.microsoft\.com\/v1\.0\/shares\/u!\S+\/driveItem .*accessDenied/);
    expect(text).toMatch(/GET\s+403 graph\.microsoft\.com\/v1\.0\/groups\/\S+\/drive .*accessDenied/);
    expect(text).not.toMatch(/guest opens the shared file/);

    expect(result.capture).toBe(join(outDir, "demo.sqlite"));
    expect(result.report).toBe(join(outDir, "demo-report.html"));
    expect(existsSync(result.capture) && existsSync(result.report)).toBe(true);
    expect(result.analysis.catalysts[0]?.template).toBe("GET /v1.0/groups/{id}/drive");
    expect(result.analysis.flips.filter((f) => f.explanation === "catalyst")).toHaveLength(1);
  });
});
