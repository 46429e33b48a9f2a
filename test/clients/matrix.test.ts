// Real clients through graphtap against the simulated tenant: Java 17's HttpClient, the
// Microsoft Graph JS SDK (with a $batch), and a Node child set up exactly as the README
// tells Node users. Every call must be in the capture: url, status, who called, and a
// user agent that tells which client it was. (curl, undici and python3 requests are in
// test/proxy/clients.test.ts.)
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@microsoft/microsoft-graph-client";
import { ProxyAgent } from "undici";
import { startRecordingProxy, type RecordingProxy } from "../../src/capture/recording-proxy.js";
import { logicalExchanges } from "../../src/graph/batch.js";
import { DEFAULT_GRAPH_HOSTS } from "../../src/graph/hosts.js";
import { CaptureReader } from "../../src/recorder/index.js";
import type { Exchange, TunnelRecord } from "../../src/exchange/types.js";
import { startSim, type Sim } from "../../src/sim/index.js";
import { createAuthority, type Authority } from "../../src/tls/authority.js";
import { cleanEnv, ROOT, run } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const ME = "https://graph.microsoft.com/v1.0/me";

let dir: string;
let sim: Sim;
let authority: Authority;
let caFile: string;
let simCaFile: string;
let running: RecordingProxy | undefined;
const warnings: string[] = [];

beforeAll(async () => {
  dir = tempDir("graphtap-clients-");
  authority = createAuthority({ commonName: "graphtap client matrix CA", permitted: [...DEFAULT_GRAPH_HOSTS] });
  caFile = join(dir, "ca.pem");
  writeFileSync(caFile, authority.certPem);
  sim = await startSim({ port: 0 });
  simCaFile = join(dir, "sim-ca.pem");
  writeFileSync(simCaFile, sim.caPem);
});

afterEach(async () => {
  await running?.stop();
  running = undefined;
});

afterAll(async () => {
  await sim?.close();
});

/** A fresh recording proxy (own capture file) in front of the sim. */
async function startProxy(name: string): Promise<RecordingProxy & { db: string }> {
  const db = join(dir, `${name}.sqlite`);
  running = await startRecordingProxy({
    host: "127.0.0.1",
    port: 0,
    db,
    authority,
    upstream: [`graph.microsoft.com=${sim.url}`],
    upstreamCaFiles: [simCaFile],
    onWarning: (m) => warnings.push(`${name}: ${m}`),
  });
  return Object.assign(running, { db });
}

/** Stops the proxy (everything completed is then on disk) and reads the capture back. */
async function stopAndRead(p: RecordingProxy & { db: string }): Promise<{ exchanges: Exchange[]; tunnels: TunnelRecord[] }> {
  await p.stop();
  running = undefined;
  const reader = CaptureReader.open(p.db);
  try {
    return { exchanges: [...reader.exchanges()], tunnels: [...reader.tunnels()] };
  } finally {
    reader.close();
  }
}

function header(ex: Exchange, name: string): string | undefined {
  return ex.requestHeaders.find(([k]) => k === name)?.[1];
}

/** What every recorded GET /me must show. */
function expectRecordedMe(ex: Exchange | undefined, who: "alice" | "megan", userAgent: RegExp): void {
  expect(ex, "the call is not in the capture").toBeDefined();
  expect(ex!.method).toBe("GET");
  expect(ex!.url).toBe(ME);
  expect(ex!.upstreamUrl).toBe(`${sim.url}/`);
  expect(ex!.status).toBe(200);
  expect(ex!.error).toBeUndefined();
  expect(ex!.token?.claims["upn"]).toBe(sim.principal(who).upn);
  expect(header(ex!, "user-agent")).toMatch(userAgent);
  // The sim answered it, for that principal (the recorded request-id is the sim's).
  const seen = sim.requests.find((r) => r.requestId === ex!.responseHeaders.find(([k]) => k === "request-id")?.[1]);
  expect(seen?.principal).toBe(who);
  expect(seen?.path).toBe("/v1.0/me");
}

const java = spawnSync("java", ["-version"], { encoding: "utf8" });
const haveJava = java.status === 0;
if (!haveJava) console.warn("SKIP Java 17 HttpClient: `java` is not installed on this machine");

const JAVA_MAIN = `
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Main {
  public static void main(String[] args) throws Exception {
    // "explicit:PORT": a ProxySelector in code; "system": the default client, which
    // follows the https.proxyHost / https.proxyPort system properties.
    HttpClient client = args[0].startsWith("explicit:")
        ? HttpClient.newBuilder()
            .proxy(ProxySelector.of(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0].substring(9)))))
            .build()
        : HttpClient.newHttpClient();
    HttpRequest request = HttpRequest.newBuilder(URI.create("${ME}"))
        .header("Authorization", "Bearer " + args[1])
        .header("client-request-id", args[2])
        .GET()
        .build();
    HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
    System.out.println(response.statusCode());
    System.out.println(response.version());
    System.out.println(response.body());
  }
}
`;

describe("client matrix through graphtap against the simulated tenant", () => {
  describe.skipIf(!haveJava)("Java 17 java.net.http.HttpClient (truststore from ca.pem via keytool)", () => {
    let jdir: string;
    let store: string;

    beforeAll(async () => {
      jdir = join(dir, "java");
      store = join(jdir, "t.jks");
      mkdirSync(jdir, { recursive: true });
      writeFileSync(join(jdir, "Main.java"), JAVA_MAIN);
      const kt = await run("keytool", ["-importcert", "-noprompt", "-alias", "graphtap", "-file", caFile, "-keystore", store, "-storepass", "changeit"], { timeoutMs: 30_000 });
      expect(kt.code, `${kt.stdout}${kt.stderr}`).toBe(0);
    });

    async function javaCall(name: string, props: (port: number) => string[], mode: (port: number) => string): Promise<void> {
      const p = await startProxy(name);
      const token = sim.token("alice");
      const crid = randomUUID();
      const r = await run(
        "java",
        [`-Djavax.net.ssl.trustStore=${store}`, "-Djavax.net.ssl.trustStorePassword=changeit", ...props(p.port), "Main.java", mode(p.port), token, crid],
        { cwd: jdir, env: cleanEnv(), timeoutMs: 50_000 },
      );
      expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
      const [status, version, body] = r.stdout.split("\n");
      expect(status).toBe("200");
      expect(version).toMatch(/^HTTP_(1_1|2)$/);
      expect(JSON.parse(body!)).toMatchObject({ userPrincipalName: sim.principal("alice").upn });

      const { exchanges, tunnels } = await stopAndRead(p);
      expect(tunnels).toEqual([]);
      expect(exchanges).toHaveLength(1);
      expectRecordedMe(exchanges[0], "alice", /^Java-http-client\/17\./);
      expect(exchanges[0]!.requestHeaders).toContainEqual(["client-request-id", crid]);
    }

    it("with an explicit ProxySelector.of(127.0.0.1:port)", async () => {
      await javaCall("java-explicit", () => [], (port) => `explicit:${port}`);
    });

    it("as the README says: HttpClient.newHttpClient() with -Dhttps.proxyHost/-Dhttps.proxyPort", async () => {
      await javaCall("java-system", (port) => ["-Dhttps.proxyHost=127.0.0.1", `-Dhttps.proxyPort=${port}`], () => "system");
    });
  });

  it("Microsoft Graph JS SDK: /me and a $batch whose parts are logical exchanges", async () => {
    const p = await startProxy("sdk");
    const group = sim.scenario.groups[0]!;
    const dispatcher = new ProxyAgent({ uri: p.url, requestTls: { ca: authority.certPem } });
    try {
      const token = sim.token("megan");
      const client = Client.init({
        authProvider: (done) => done(null, token),
        // Node's built-in fetch (typed by undici-types) with an agent from the undici
        // package: the same dispatcher protocol, two copies of the types.
        fetchOptions: { dispatcher: dispatcher as unknown as NonNullable<RequestInit["dispatcher"]> },
      });
      const me = (await client.api("/me").get()) as { userPrincipalName?: string };
      expect(me.userPrincipalName).toBe(sim.principal("megan").upn);

      const batch = (await client.api("/$batch").post({
        requests: [
          { id: "1", method: "GET", url: "/me" },
          { id: "2", method: "GET", url: `/groups/${group.id}/drive` },
        ],
      })) as { responses: Array<{ id: string; status: number }> };
      const byId = new Map(batch.responses.map((r) => [r.id, r.status]));
      expect(byId.get("1")).toBe(200);
      expect(byId.get("2")).toBe(200);
    } finally {
      await dispatcher.close();
    }

    const { exchanges, tunnels } = await stopAndRead(p);
    expect(tunnels).toEqual([]);
    expect(exchanges.map((e) => `${e.method} ${e.url}`)).toEqual([`GET ${ME}`, "POST https://graph.microsoft.com/v1.0/$batch"]);
    const sdkAgent = /^node$/; // Node's own fetch, which the SDK uses
    expectRecordedMe(exchanges[0], "megan", sdkAgent);
    for (const ex of exchanges) {
      // The SDK announces itself (its TelemetryHandler) and sets a client-request-id.
      expect(header(ex, "sdkversion")).toMatch(/^graph-js\/3\./);
      expect(header(ex, "client-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }

    const envelope = exchanges[1]!;
    expect(envelope.status).toBe(200);
    const logical = [...logicalExchanges(exchanges)];
    expect(logical).toHaveLength(3);
    expect(logical[0]!.id).toBe(exchanges[0]!.id);
    const parts = logical.slice(1);
    expect(parts.map((x) => [x.partId, x.parentId, x.method, x.url, x.status])).toEqual([
      ["1", envelope.id, "GET", ME, 200],
      ["2", envelope.id, "GET", `https://graph.microsoft.com/v1.0/groups/${group.id}/drive`, 200],
    ]);
    for (const part of parts) expect(part.token?.claims["upn"]).toBe(sim.principal("megan").upn);
    // The sim really ran the parts as parts of that envelope.
    const simParts = sim.requests.filter((r) => r.batch && r.principal === "megan").map((r) => [r.batch!.partId, r.path, r.status]);
    expect(simParts).toEqual(expect.arrayContaining([["1", "/v1.0/me", 200], ["2", `/v1.0/groups/${group.id}/drive`, 200]]));
  });

  it("Microsoft Graph JS SDK as the README says: a child with fetchOptions.dispatcher = EnvHttpProxyAgent and NODE_EXTRA_CA_CERTS", async () => {
    const p = await startProxy("sdk-readme");
    const script = `
      import { Client } from "@microsoft/microsoft-graph-client";
      import { EnvHttpProxyAgent } from "undici";
      const client = Client.init({
        authProvider: (done) => done(null, process.env.GT_TOKEN),
        fetchOptions: { dispatcher: new EnvHttpProxyAgent() },
      });
      const me = await client.api("/me").get();
      console.log(JSON.stringify({ upn: me.userPrincipalName }));
    `;
    const r = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd: ROOT,
      env: cleanEnv({ NODE_EXTRA_CA_CERTS: caFile, HTTPS_PROXY: p.url, GT_TOKEN: sim.token("megan") }),
      timeoutMs: 30_000,
    });
    expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ upn: sim.principal("megan").upn });

    const { exchanges, tunnels } = await stopAndRead(p);
    expect(tunnels).toEqual([]);
    expect(exchanges).toHaveLength(1);
    expectRecordedMe(exchanges[0], "megan", /^node$/);
    expect(header(exchanges[0]!, "sdkversion")).toMatch(/^graph-js\/3\./);
  });

  it("Node child as the README says (NODE_EXTRA_CA_CERTS, EnvHttpProxyAgent, HTTPS_PROXY), NO_PROXY honoured", async () => {
    const p = await startProxy("node");
    // A non-Graph loopback server that NO_PROXY exempts: it must be reached directly.
    const direct: string[] = [];
    const sockets = new Set<net.Socket>();
    const server = http.createServer((req, res) => {
      direct.push(req.url ?? "");
      res.end("direct");
    });
    server.on("connection", (s: net.Socket) => {
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const directUrl = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/not-graph?via=node`;
    try {
      const script = `
        import { EnvHttpProxyAgent, setGlobalDispatcher } from "undici";
        setGlobalDispatcher(new EnvHttpProxyAgent());
        const me = await fetch(${JSON.stringify(ME)}, { headers: { authorization: "Bearer " + process.env.GT_TOKEN } });
        const body = await me.json();
        const other = await fetch(process.env.GT_DIRECT);
        console.log(JSON.stringify({ status: me.status, upn: body.userPrincipalName, direct: other.status, directBody: await other.text() }));
      `;
      const r = await run(process.execPath, ["--input-type=module", "-e", script], {
        cwd: ROOT, // so "undici" resolves from graphtap's node_modules, as in a user's project
        env: cleanEnv({
          NODE_EXTRA_CA_CERTS: caFile,
          HTTPS_PROXY: p.url,
          // Also a proxy for http://, so that only NO_PROXY can keep the loopback call direct.
          HTTP_PROXY: p.url,
          NO_PROXY: "127.0.0.1,localhost",
          GT_TOKEN: sim.token("alice"),
          GT_DIRECT: directUrl,
        }),
        timeoutMs: 30_000,
      });
      expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ status: 200, upn: sim.principal("alice").upn, direct: 200, directBody: "direct" });
      expect(direct).toEqual(["/not-graph?via=node"]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }

    const { exchanges, tunnels } = await stopAndRead(p);
    // NO_PROXY: the loopback call never touched graphtap (no tunnel, no exchange).
    expect(tunnels).toEqual([]);
    expect(exchanges).toHaveLength(1);
    expectRecordedMe(exchanges[0], "alice", /^node$/); // Node's built-in fetch
  });

  it("no proxy warnings were raised by any client", () => {
    expect(warnings).toEqual([]);
  });
});
