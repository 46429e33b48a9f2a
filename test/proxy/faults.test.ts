// Upstream and client faults: each one is answered or recorded the way a Graph client
// can understand, and the proxy keeps serving afterwards.
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exchangeRow, waitForRows } from "../helpers/capture.js";
import { runCli, startCliProxy, type CliProxy } from "../helpers/cli.js";
import { connect, proxyAgent, readAll, tlsOver, viaProxy } from "../helpers/client.js";
import { tempDir } from "../helpers/tmp.js";
import {
  closedPort,
  graphHandler,
  startUpstream,
  STREAM_TOTAL,
  type GraphUpstreamState,
  type TestUpstream,
} from "../helpers/upstream.js";

const GRAPH = "https://graph.microsoft.com";
const state: GraphUpstreamState = { requests: [], streams: [] };
let dir: string;
let upstream: TestUpstream;
let untrusted: TestUpstream;
let proxy: CliProxy;
let followUps = 0;

beforeAll(async () => {
  dir = tempDir();
  upstream = await startUpstream(graphHandler(state));
  // Same kind of server, but its certificate comes from a CA the proxy is not told about.
  untrusted = await startUpstream(graphHandler({ requests: [], streams: [] }), "untrusted test CA");
  const refusedPort = await closedPort();
  proxy = await startCliProxy({
    home: join(dir, "home"),
    db: join(dir, "capture.sqlite"),
    args: [
      "--intercept", "graph.microsoft.com",
      "--intercept", "refused.graph.microsoft.com",
      "--intercept", "untrusted.graph.microsoft.com",
      "--upstream", `graph.microsoft.com=${upstream.url}`,
      "--upstream", `refused.graph.microsoft.com=https://127.0.0.1:${refusedPort}`,
      "--upstream", `untrusted.graph.microsoft.com=${untrusted.url}`,
      "--upstream-ca", upstream.writeCa(dir),
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await untrusted?.close();
});

/** A fresh client connection through `p` still gets a recorded 200. */
async function expectServing(p: CliProxy = proxy): Promise<void> {
  const marker = `followup-${++followUps}`;
  const agent = proxyAgent(p.url, p.caPem);
  try {
    const reply = await viaProxy(agent, `${GRAPH}/v1.0/me?via=${marker}`);
    expect(reply.status).toBe(200);
    expect((await exchangeRow(p.db, marker)).status).toBe(200);
  } finally {
    await agent.close();
  }
}

interface GraphError {
  error: { code: string; message: string; innerError: { "request-id": string; "client-request-id": string } };
}

describe("upstream faults", () => {
  it("upstream refused: 502 with a Graph-shaped error naming graphtap, recorded as ECONNREFUSED", async () => {
    const agent = proxyAgent(proxy.url, proxy.caPem);
    const reply = await viaProxy(agent, "https://refused.graph.microsoft.com/v1.0/me?via=refused", {
      headers: { "client-request-id": "crid-refused" },
    });
    await agent.close();
    expect(reply.status).toBe(502);
    expect(reply.headers["content-type"]).toBe("application/json");
    expect(reply.headers["x-graphtap-error"]).toBe("ECONNREFUSED");
    const body = JSON.parse(reply.body.toString()) as GraphError;
    expect(body.error.code).toBe("graphtapUpstreamError");
    expect(body.error.message).toMatch(/^graphtap could not get a response from https:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    expect(body.error.innerError["client-request-id"]).toBe("crid-refused");
    expect(body.error.innerError["request-id"]).toMatch(/^[0-9a-f-]{36}$/);

    const row = await exchangeRow(proxy.db, "via=refused");
    expect(row.url).toBe("https://refused.graph.microsoft.com/v1.0/me?via=refused");
    expect(row.error_code).toBe("ECONNREFUSED");
    expect(row.error_phase).toBe("connect");
    await expectServing();
  });

  it("upstream resets the socket mid-response: the client sees a broken response, recorded as ECONNRESET", async () => {
    const agent = proxyAgent(proxy.url, proxy.caPem);
    const outcome = await viaProxy(agent, `${GRAPH}/v1.0/reset?via=reset`).then(
      (r) => `complete ${r.status} ${r.body.length}`,
      (e: Error) => `failed: ${e.message}`,
    );
    await agent.close();
    // A short body passed off as complete would be the worst outcome.
    expect(outcome).toMatch(/^failed/);
    const row = await exchangeRow(proxy.db, "via=reset");
    expect(row.status).toBe(200);
    expect(row.error_code).toBe("ECONNRESET");
    expect(row.error_phase).toBe("response");
    expect(row.res_body_size).toBe(20_000);
    await expectServing();
  });

  it("upstream certificate not trusted: 502, recorded with error phase tls", async () => {
    const agent = proxyAgent(proxy.url, proxy.caPem);
    const reply = await viaProxy(agent, "https://untrusted.graph.microsoft.com/v1.0/me?via=untrusted");
    await agent.close();
    expect(reply.status).toBe(502);
    const body = JSON.parse(reply.body.toString()) as GraphError;
    expect(body.error.code).toBe("graphtapUpstreamError");
    const row = await exchangeRow(proxy.db, "via=untrusted");
    expect(row.error_phase).toBe("tls");
    expect(row.error_code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/);
    await expectServing();
  });
});

describe("client faults", () => {
  it("a client that hangs up mid-response stops the upstream response; recorded as CLIENT_ABORTED", async () => {
    const { socket } = await connect(proxy.port, "graph.microsoft.com:443");
    const tlsSocket = await tlsOver(socket, { servername: "graph.microsoft.com", ca: proxy.caPem });
    const before = state.streams.length;
    tlsSocket.write("GET /v1.0/stream?via=abort HTTP/1.1\r\nHost: graph.microsoft.com\r\n\r\n");
    let got = 0;
    await new Promise<void>((resolve) => {
      tlsSocket.on("data", (d: Buffer) => {
        got += d.length;
        if (got >= 1024 * 1024) resolve();
      });
    });
    tlsSocket.destroy();
    socket.destroy();
    const watch = state.streams[before];
    expect(watch).toBeDefined();
    const timeout = new Promise<"still streaming">((r) => setTimeout(() => r("still streaming"), 5000));
    const closed = await Promise.race([watch!.closed, timeout]);
    expect(closed).not.toBe("still streaming");
    if (closed === "still streaming") return;
    expect(closed.finished).toBe(false);
    // Backpressure keeps a few MiB in flight at most; the point is it did not run to the end.
    expect(closed.written).toBeLessThan(STREAM_TOTAL / 8);

    const row = await exchangeRow(proxy.db, "via=abort");
    expect(row.status).toBe(200);
    expect(row.error_code).toBe("CLIENT_ABORTED");
    expect(row.error_phase).toBe("client");
    await expectServing();
  });

  it("plain HTTP after an intercepted CONNECT: a warning on stderr, a NOT_TLS record, and the proxy goes on", async () => {
    const { socket, head } = await connect(proxy.port, "graph.microsoft.com:443");
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    const closed = readAll(socket);
    socket.write("GET /v1.0/me HTTP/1.1\r\nHost: graph.microsoft.com\r\n\r\n");
    await closed;
    const rows = await waitForRows(proxy.db, "SELECT * FROM tunnels WHERE error_code = 'NOT_TLS'");
    expect(rows[0]).toMatchObject({ host: "graph.microsoft.com", port: 443, error_phase: "tls" });
    expect(proxy.stderr()).toContain("client sent plain text, not TLS, on an intercepted CONNECT to graph.microsoft.com:443");
    await expectServing();
  });

  it("a malformed CONNECT target gets 400", async () => {
    const socket = net.connect(proxy.port, "127.0.0.1");
    const reply = readAll(socket);
    socket.write("CONNECT nonsense HTTP/1.1\r\nHost: nonsense\r\n\r\n");
    const text = (await reply).toString("latin1");
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain("CONNECT needs host:port");
    expect(proxy.stderr()).toContain('refused malformed CONNECT target "nonsense"');
    await expectServing();
  });
});

describe("a proxy with --upstream-timeout 1 and no --upstream-ca", () => {
  let slow: CliProxy;
  let plain: http.Server;

  beforeAll(async () => {
    // A plain-http "Graph" (no TLS to verify) for the hang and the follow-ups.
    plain = http.createServer(graphHandler({ requests: [], streams: [] }));
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    const plainPort = (plain.address() as net.AddressInfo).port;
    slow = await startCliProxy({
      home: join(dir, "home"),
      db: join(dir, "timeout.sqlite"),
      args: [
        "--intercept", "graph.microsoft.com",
        "--intercept", "untrusted.graph.microsoft.com",
        "--upstream", `graph.microsoft.com=http://127.0.0.1:${plainPort}`,
        // The test upstream, whose CA this proxy is not given: verification is on by default.
        "--upstream", `untrusted.graph.microsoft.com=${upstream.url}`,
        "--upstream-timeout", "1",
      ],
    });
  });
  afterAll(async () => {
    await slow?.stop();
    plain?.closeAllConnections();
    await new Promise((r) => plain?.close(r));
  });

  it("an upstream that never answers: 504 after --upstream-timeout, recorded as ETIMEDOUT", async () => {
    const agent = proxyAgent(slow.url, slow.caPem);
    const t0 = Date.now();
    const reply = await viaProxy(agent, `${GRAPH}/v1.0/hang?via=hang`);
    const elapsed = Date.now() - t0;
    await agent.close();
    expect(reply.status).toBe(504);
    expect(reply.headers["x-graphtap-error"]).toBe("ETIMEDOUT");
    expect((JSON.parse(reply.body.toString()) as GraphError).error.code).toBe("graphtapUpstreamTimeout");
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(10_000);
    const row = await exchangeRow(slow.db, "via=hang");
    expect(row.error_code).toBe("ETIMEDOUT");
    await expectServing(slow);
  });

  it("without --upstream-ca, the test upstream's certificate is not trusted: 502, error phase tls", async () => {
    const agent = proxyAgent(slow.url, slow.caPem);
    const reply = await viaProxy(agent, "https://untrusted.graph.microsoft.com/v1.0/me?via=no-upstream-ca");
    await agent.close();
    expect(reply.status).toBe(502);
    expect(reply.headers["x-graphtap-error"]).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT/);
    const row = await exchangeRow(slow.db, "via=no-upstream-ca");
    expect(row.error_phase).toBe("tls");
    await expectServing(slow);
  });
});

describe("bad arguments", () => {
  it("--upstream nonsense: one line on stderr, non-zero exit, no stack trace", async () => {
    const r = await runCli(["proxy", "--port", "0", "--home", join(dir, "home"), "--db", join(dir, "bad.sqlite"), "--upstream", "nonsense"]);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toMatch(/^graphtap: bad --upstream "nonsense": expected HOST=URL.*\n$/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).not.toContain("listening on");
  });
});
