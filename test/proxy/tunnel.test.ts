// CONNECT to a host graphtap does not intercept is a blind tunnel: the client talks TLS
// with the real server (its certificate, not graphtap's), and only the envelope is recorded.
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { query, waitForRows } from "../helpers/capture.js";
import { startCliProxy, type CliProxy } from "../helpers/cli.js";
import { connect, tlsOver } from "../helpers/client.js";
import { tempDir } from "../helpers/tmp.js";
import { graphHandler, startUpstream, type GraphUpstreamState, type TestUpstream } from "../helpers/upstream.js";

const state: GraphUpstreamState = { requests: [], streams: [] };
let upstream: TestUpstream;
let proxy: CliProxy;

beforeAll(async () => {
  const dir = tempDir();
  upstream = await startUpstream(graphHandler(state));
  proxy = await startCliProxy({
    home: join(dir, "home"),
    db: join(dir, "capture.sqlite"),
    args: ["--upstream", `graph.microsoft.com=${upstream.url}`, "--upstream-ca", upstream.writeCa(dir)],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

describe("blind tunnel", () => {
  it("shows the upstream's own certificate and records host, port and bytes both ways", async () => {
    const target = `127.0.0.1:${upstream.port}`;
    const { socket, head, request } = await connect(proxy.port, target);
    expect(head).toBe("HTTP/1.1 200 Connection Established\r\n\r\n");
    const t = await tlsOver(socket, { ca: upstream.caPem });
    expect(t.authorized).toBe(true);
    const peer = t.getPeerCertificate();
    const own = new X509Certificate(upstream.certPem);
    expect(peer.fingerprint256).toBe(own.fingerprint256);
    expect(peer.issuer.CN).toBe("test upstream CA");
    expect(peer.issuer.CN).not.toMatch(/graphtap/);

    // Keep-alive, and the client hangs up only after the whole response: every byte
    // either side sent has arrived before the tunnel closes.
    t.write(`GET /v1.0/me?via=tunnel HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    const reply = await new Promise<string>((resolve) => {
      let text = "";
      t.setEncoding("utf8").on("data", (d: string) => {
        text += d;
        const end = text.indexOf("\r\n\r\n");
        const length = /content-length: (\d+)/i.exec(text);
        if (end > 0 && length && Buffer.byteLength(text) - end - 4 >= Number(length[1])) resolve(text);
      });
    });
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(reply).toContain('"displayName":"Megan Bowen"');
    t.destroy();
    await new Promise((r) => socket.once("close", r));

    const [row] = await waitForRows(proxy.db, "SELECT * FROM tunnels WHERE port = ?", [upstream.port]);
    expect(row).toMatchObject({ host: "127.0.0.1", port: upstream.port, error_code: null });
    // Everything after the CONNECT exchange crossed the tunnel, byte for byte.
    expect(row!.bytes_up).toBe(socket.bytesWritten - Buffer.byteLength(request));
    // Down: what the server sent; it may add a TLS alert (24 bytes) as the tunnel closes.
    const down = socket.bytesRead - Buffer.byteLength(head);
    expect(Number(row!.bytes_down)).toBeGreaterThanOrEqual(down);
    expect(Number(row!.bytes_down)).toBeLessThanOrEqual(down + 64);
    expect(Number(row!.bytes_down)).toBeGreaterThan(reply.length);
    // Not decrypted, so no exchange for it.
    expect(query(proxy.db, "SELECT count(*) AS n FROM exchanges WHERE instr(url, 'via=tunnel') > 0")[0]!.n).toBe(0);
    expect(state.requests.some((r) => r.url === "/v1.0/me?via=tunnel")).toBe(true);
  });
});
