// Talking to the proxy from the test process: undici through a ProxyAgent, and raw
// CONNECT sockets for the cases a well-behaved client never produces.
import net from "node:net";
import tls from "node:tls";
import { ProxyAgent, request } from "undici";

export function proxyAgent(proxyUrl: string, caPem: string): ProxyAgent {
  return new ProxyAgent({ uri: proxyUrl, requestTls: { ca: caPem } });
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request through the proxy, body read whole. */
export async function viaProxy(
  agent: ProxyAgent,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  const res = await request(url, {
    dispatcher: agent,
    method: (opts.method ?? "GET") as "GET",
    headers: opts.headers ?? {},
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Sends a CONNECT and resolves with the socket and the proxy's reply head. */
export function connect(proxyPort: number, target: string): Promise<{ socket: net.Socket; head: string; request: string }> {
  return new Promise((resolve, reject) => {
    const request = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`;
    const socket = net.connect(proxyPort, "127.0.0.1", () => socket.write(request));
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      const rest = buf.subarray(end + 4);
      if (rest.length) socket.unshift(rest);
      resolve({ socket, head: buf.subarray(0, end + 4).toString("latin1"), request });
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
}

/** TLS over an established CONNECT tunnel. */
export function tlsOver(socket: net.Socket, opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const t = tls.connect({ ...opts, socket }, () => resolve(t));
    t.once("error", reject);
  });
}

/** Reads from a socket until it closes (or `timeoutMs`), returning all bytes. */
export function readAll(socket: net.Socket, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => done(), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.once("close", done);
    socket.once("error", () => undefined);
  });
}
