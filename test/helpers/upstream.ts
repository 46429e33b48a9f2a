// A local HTTPS server standing in for Graph, with its own test CA. Only 127.0.0.1.
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import { join } from "node:path";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { createAuthority, LeafFactory, type Authority } from "../../src/tls/authority.js";

export interface TestCa {
  authority: Authority;
  leaves: LeafFactory;
}

const cas = new Map<string, TestCa>();

/** A test CA (cached per name for this process: RSA key generation is the slow part). */
export function testCa(commonName = "test upstream CA"): TestCa {
  let ca = cas.get(commonName);
  if (!ca) {
    const authority = createAuthority({ commonName, permitted: ["127.0.0.1", "localhost"] });
    ca = { authority, leaves: new LeafFactory(authority) };
    cas.set(commonName, ca);
  }
  return ca;
}

export interface TestUpstream {
  port: number;
  /** https://127.0.0.1:PORT */
  url: string;
  /** PEM of the CA that issued the server certificate. */
  caPem: string;
  /** PEM of the server's own (leaf) certificate. */
  certPem: string;
  server: https.Server;
  /** Writes the CA PEM into `dir` and returns the file. */
  writeCa(dir: string, name?: string): string;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export async function startUpstream(handler: Handler, caName = "test upstream CA"): Promise<TestUpstream> {
  const ca = testCa(caName);
  const leaf = ca.leaves.issue(["127.0.0.1", "localhost"]);
  const sockets = new Set<net.Socket>();
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, handler);
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  server.on("secureConnection", (s: net.Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    caPem: ca.authority.certPem,
    certPem: leaf.certPem,
    server,
    writeCa(dir, name = "upstream-ca.pem") {
      const file = join(dir, name);
      writeFileSync(file, ca.authority.certPem);
      return file;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port that was free a moment ago and has nothing listening on it. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export const BIG_SIZE = 3 * 1024 * 1024;
/** 3 MiB of incompressible bytes, the same for the whole test run. */
export const BIG_BODY = randomBytes(BIG_SIZE);
export const BIG_SHA256 = sha256(BIG_BODY);

export function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

export interface StreamWatch {
  /** Bytes the upstream wrote to /stream responses before they ended or closed. */
  written: number;
  /** Resolves when the /stream response closes, with whether it finished normally. */
  closed: Promise<{ finished: boolean; written: number; afterMs: number }>;
}

/** What the Graph-like upstream saw, for assertions. */
export interface GraphUpstreamState {
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }>;
  streams: StreamWatch[];
}

export const STREAM_TOTAL = 512 * 1024 * 1024;

/**
 * A handler that behaves like a little Graph:
 *   GET  /v1.0/me         200 JSON, request-id, echoes client-request-id
 *   GET  /v1.0/denied     401 {"error":{"code":"accessDenied"}}
 *   GET  /v1.0/gzip|br    compressed JSON
 *   POST /v1.0/echo       201 echoing the body
 *   GET  /v1.0/big        3 MiB binary
 *   GET  /v1.0/cookie     200 with Set-Cookie
 *   GET  /v1.0/stream     512 MiB, streamed as fast as the reader takes it
 *   GET  /v1.0/reset      headers and half a body, then a socket reset
 *   GET  /v1.0/hang       never answers
 */
export function graphHandler(state: GraphUpstreamState): Handler {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      state.requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const path = (req.url ?? "").split("?")[0];
      const requestId = `rid-${randomBytes(8).toString("hex")}`;
      const base: Record<string, string> = {
        "request-id": requestId,
        "client-request-id": String(req.headers["client-request-id"] ?? ""),
        "x-ms-ags-diagnostic": JSON.stringify({ ServerInfo: { DataCenter: "West Europe", Slice: "E", Ring: "5", ScaleUnit: "001", RoleInstance: "AM1PEPF0000" } }),
      };
      const json = (status: number, value: unknown, extra: Record<string, string> = {}) => {
        const text = JSON.stringify(value);
        res.writeHead(status, { ...base, "content-type": "application/json", "content-length": Buffer.byteLength(text), ...extra });
        res.end(text);
      };
      switch (path) {
        case "/v1.0/me":
          return json(200, { displayName: "Megan Bowen", id: "4d1c8c9e", path: req.url });
        case "/v1.0/denied":
          return json(401, { error: { code: "accessDenied", message: "Access denied", innerError: { "request-id": requestId } } });
        case "/v1.0/gzip":
        case "/v1.0/br": {
          const text = Buffer.from(JSON.stringify({ value: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` })) }));
          const enc = path.endsWith("gzip") ? "gzip" : "br";
          const wire = enc === "gzip" ? gzipSync(text) : brotliCompressSync(text);
          res.writeHead(200, { ...base, "content-type": "application/json", "content-encoding": enc, "content-length": wire.length });
          return res.end(wire);
        }
        case "/v1.0/echo":
          return json(201, { received: body.toString("utf8") });
        case "/v1.0/big":
          res.writeHead(200, { ...base, "content-type": "application/octet-stream", "content-length": BIG_SIZE });
          return res.end(BIG_BODY);
        case "/v1.0/cookie":
          return json(200, { ok: true }, { "set-cookie": "session=SETCOOKIESECRETVALUE; Path=/; HttpOnly" });
        case "/v1.0/stream":
          return stream(state, res, base);
        case "/v1.0/reset": {
          res.writeHead(200, { ...base, "content-type": "application/json", "content-length": 100_000 });
          res.write("x".repeat(20_000), () => setTimeout(() => req.socket.destroy(), 20));
          return;
        }
        case "/v1.0/hang":
          return; // never answers
        default:
          return json(404, { error: { code: "itemNotFound", message: `no ${path}` } });
      }
    });
  };
}

function stream(state: GraphUpstreamState, res: http.ServerResponse, base: Record<string, string>): void {
  const t0 = Date.now();
  let resolveClosed!: (v: { finished: boolean; written: number; afterMs: number }) => void;
  const watch: StreamWatch = { written: 0, closed: new Promise((r) => (resolveClosed = r)) };
  state.streams.push(watch);
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  res.writeHead(200, { ...base, "content-type": "application/octet-stream", "content-length": STREAM_TOTAL });
  let closed = false;
  res.on("close", () => {
    closed = true;
    resolveClosed({ finished: res.writableFinished, written: watch.written, afterMs: Date.now() - t0 });
  });
  const pump = (): void => {
    while (!closed && watch.written < STREAM_TOTAL) {
      watch.written += chunk.length;
      if (watch.written >= STREAM_TOTAL) {
        res.end(chunk);
        return;
      }
      if (!res.write(chunk)) {
        res.once("drain", pump);
        return;
      }
    }
  };
  pump();
}
