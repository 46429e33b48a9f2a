// The intercepting proxy. One HTTP server answers proxy requests: CONNECT to an
// intercepted host is TLS-terminated with a leaf from the CA and its requests are
// forwarded (http-proxy) and emitted as Exchanges; CONNECT to anything else is a blind
// tunnel. The proxy knows nothing of SQLite: listeners (recorder, console) do the rest.
import { EventEmitter } from "node:events";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import httpProxy from "http-proxy";
import type { Authority } from "../tls/authority.js";
import { LeafFactory, permits } from "../tls/authority.js";
import type { Exchange, TunnelRecord } from "../exchange/types.js";
import { newId } from "../exchange/id.js";
import { DEFAULT_GRAPH_HOSTS } from "../graph/hosts.js";
import { DEFAULT_MAX_BODY } from "../exchange/body-tap.js";
import { Flow, type FlowTarget } from "./flow.js";
import { InterceptList, parseConnectTarget, upstreamSecureContext, type UpstreamTarget } from "./hosts.js";
import { openTunnel } from "./tunnel.js";

export interface ProxyOptions {
  host?: string;
  port?: number;
  authority: Authority;
  /** Host patterns to decrypt; default: the Graph hosts of every cloud. */
  intercept?: readonly string[];
  upstreams?: Map<string, UpstreamTarget>;
  /** Extra CA certificates (PEM) that upstream TLS is verified against. */
  upstreamCa?: string[];
  /** Bytes of each body kept for the capture (the stream itself is never capped). */
  maxBody?: number;
  /** No upstream response within this many ms → 504. */
  upstreamTimeoutMs?: number;
  sessionId?: string;
  /**
   * Answers intercepted requests itself instead of forwarding them (server replay). Also
   * gets origin-form requests to the proxy port (`GET /v1.0/me`), target host "", so an
   * app that takes a base URL can use the same port.
   */
  responder?: (req: http.IncomingMessage, res: http.ServerResponse, target: FlowTarget) => void;
}

export interface ProxyEvents {
  exchange: [Exchange];
  tunnel: [TunnelRecord];
  /** One-line, human-readable: something a user should know, the proxy goes on. */
  warning: [string];
}

export class GraphtapProxy extends EventEmitter<ProxyEvents> {
  readonly sessionId: string;
  readonly intercept: InterceptList;
  private readonly upstreams: Map<string, UpstreamTarget>;
  private readonly outer: http.Server;
  /** Serves the decrypted side of intercepted CONNECTs. */
  private readonly inner: http.Server;
  private readonly forwarder: httpProxy;
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;
  private readonly leaves: LeafFactory;
  private readonly contexts = new Map<string, tls.SecureContext>();
  private readonly targets = new WeakMap<net.Socket, FlowTarget>();
  private readonly flows = new WeakMap<http.IncomingMessage, Flow>();
  private readonly sockets = new Set<net.Socket>();
  /** Raw CONNECT socket → the TLS socket graphtap terminates on it. */
  private readonly tlsOf = new WeakMap<net.Socket, tls.TLSSocket>();
  private readonly warnedHosts = new Set<string>();
  readonly maxBody: number;
  private readonly timeoutMs: number;
  private address: { host: string; port: number } | undefined;

  constructor(private readonly options: ProxyOptions) {
    super();
    this.sessionId = options.sessionId ?? newId();
    this.intercept = new InterceptList(options.intercept ?? DEFAULT_GRAPH_HOSTS);
    this.upstreams = options.upstreams ?? new Map();
    this.maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
    this.timeoutMs = options.upstreamTimeoutMs ?? 120_000;
    this.leaves = new LeafFactory(options.authority);
    const secureContext = upstreamSecureContext(options.upstreamCa);
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 256,
      maxFreeSockets: 64,
      scheduling: "lifo",
      ...(secureContext ? { secureContext } : {}),
    });
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: "lifo" });

    this.forwarder = httpProxy.createProxyServer({ xfwd: false, ws: false });
    this.forwarder.on("proxyReq", (proxyReq, req) => this.flows.get(req)?.onUpstreamRequest(proxyReq, this.timeoutMs));
    this.forwarder.on("proxyRes", (proxyRes, req) => this.flows.get(req)?.onUpstreamResponse(proxyRes));
    // http-proxy emits 'error' on itself when a callback is missing; one is always
    // given, but an unhandled 'error' would kill the process, so listen anyway.
    this.forwarder.on("error", (err, req) => this.flows.get(req as http.IncomingMessage)?.fail(err));

    // No server-side request deadline: a large upload may take longer than Node's
    // default 300 s; upstream stalls are bounded by --upstream-timeout instead.
    this.outer = http.createServer({ requestTimeout: 0 }, (req, res) => this.onProxyRequest(req, res));
    this.outer.on("connect", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) =>
      this.onConnect(req, socket, head),
    );
    this.outer.on("clientError", (err, socket) => this.onClientError(err, socket as net.Socket, "proxy"));
    this.outer.on("connection", (socket: net.Socket) => this.track(socket));

    this.inner = http.createServer({ requestTimeout: 0 }, (req, res) => this.onInterceptedRequest(req, res));
    this.inner.on("clientError", (err, socket) => this.onClientError(err, socket as net.Socket, "tls"));
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  async listen(): Promise<{ host: string; port: number }> {
    // Here, not in the constructor: 'warning' listeners are attached between the two.
    this.warnAboutConfiguration();
    const host = this.options.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      this.outer.once("error", reject);
      this.outer.listen(this.options.port ?? 8080, host, () => {
        this.outer.off("error", reject);
        resolve();
      });
    });
    const addr = this.outer.address() as net.AddressInfo;
    this.address = { host, port: addr.port };
    return this.address;
  }

  get url(): string {
    if (!this.address) throw new Error("proxy is not listening");
    const host = net.isIPv6(this.address.host) ? `[${this.address.host}]` : this.address.host;
    return `http://${host}:${this.address.port}`;
  }

  /**
   * Stops accepting, ends open connections and waits until every exchange that had
   * a response has been emitted, so listeners see all completed work.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.outer.close(() => resolve()));
    this.outer.closeIdleConnections();
    this.inner.closeIdleConnections();
    // Give in-flight responses a moment to finish before cutting the rest.
    const deadline = Date.now() + 2000;
    while (this.sockets.size > 0 && Date.now() < deadline) {
      for (const s of this.sockets) {
        // A CONNECT's raw socket is busy while its TLS socket is: it closes with it.
        if (this.tlsOf.has(s)) continue;
        if (!s.writableLength && isIdle(s)) s.destroy();
      }
      if (this.sockets.size === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const s of this.sockets) s.destroy();
    this.forwarder.close();
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
    await closed;
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  private warnAboutConfiguration(): void {
    for (const pattern of this.intercept.patterns) {
      const probe = pattern.startsWith("*.") ? `graphtap-probe${pattern.slice(1)}` : pattern;
      if (!permits(this.options.authority, probe)) {
        this.emitWarning(
          `the CA does not permit ${pattern}: clients will reject graphtap's certificate for it. ` +
            `Make a CA that does: graphtap ca --renew --permit ${pattern}`,
        );
      }
    }
    for (const host of this.upstreams.keys()) {
      if (!this.intercept.matches(host)) {
        this.emitWarning(`--upstream ${host} has no effect: ${host} is not intercepted (add --intercept ${host})`);
      }
    }
  }

  private emitWarning(message: string): void {
    this.emit("warning", message);
  }

  // --- CONNECT -------------------------------------------------------------------

  private onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on("error", () => socket.destroy()); // a client reset must never throw
    const target = parseConnectTarget(req.url);
    if (!target) {
      this.emitWarning(`refused malformed CONNECT target "${truncate(req.url ?? "", 80)}" (expected host:port)`);
      socket.end("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\ngraphtap: CONNECT needs host:port\n");
      return;
    }
    const clientAddress = socket.remoteAddress;
    if (!this.intercept.matches(target.host)) {
      openTunnel(socket, head, target, this.sessionId, clientAddress, (record) => this.emit("tunnel", record));
      return;
    }
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length > 0) socket.unshift(head);
    const tlsSocket = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: this.contextFor(target.host),
      // The SAN is what the client asked for: SNI when sent, else the CONNECT host.
      SNICallback: (servername, cb) => cb(null, this.contextFor(servername || target.host)),
      ALPNProtocols: ["http/1.1"],
    });
    this.targets.set(tlsSocket, { scheme: "https", host: target.host, port: target.port, clientAddress });
    this.tlsOf.set(socket, tlsSocket);
    tlsSocket.once("close", () => socket.destroy());
    this.track(tlsSocket);
    this.inner.emit("connection", tlsSocket);
  }

  private contextFor(host: string): tls.SecureContext {
    const name = host.toLowerCase();
    let ctx = this.contexts.get(name);
    if (!ctx) {
      if (!permits(this.options.authority, name) && !this.warnedHosts.has(name)) {
        this.warnedHosts.add(name);
        this.emitWarning(`the CA does not permit ${name}; clients will reject it (graphtap ca --renew --permit ${name})`);
      }
      const leaf = this.leaves.issue([name]);
      ctx = tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem });
      this.contexts.set(name, ctx);
    }
    return ctx;
  }

  private onClientError(err: NodeJS.ErrnoException, socket: net.Socket, where: "proxy" | "tls"): void {
    const target = this.targets.get(socket);
    if (where === "tls" && target && !isSecured(socket)) {
      const plain = /http request|wrong version number|unknown protocol/i.test(err.message);
      const message = plain
        ? `client sent plain text, not TLS, on an intercepted CONNECT to ${target.host}:${target.port}`
        : `TLS handshake with the client for ${target.host} failed (${err.code ?? err.message}): ` +
          `does the client trust graphtap's CA? (graphtap ca prints its path)`;
      this.emitWarning(message);
      this.emit("tunnel", {
        id: newId(),
        sessionId: this.sessionId,
        host: target.host,
        port: target.port,
        startedAt: Date.now(),
        durationMs: 0,
        bytesUp: socket.bytesRead,
        bytesDown: socket.bytesWritten,
        error: { code: plain ? "NOT_TLS" : "TLS_HANDSHAKE_FAILED", message: err.message, phase: "tls" },
        ...(target.clientAddress ? { clientAddress: target.clientAddress } : {}),
      });
      socket.destroy();
      return;
    }
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    if (err.code === "HPE_INVALID_METHOD" || err.code?.startsWith("HPE_")) {
      this.emitWarning(`malformed HTTP request from ${socket.remoteAddress ?? "client"}: ${err.code}`);
    }
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  }

  // --- requests --------------------------------------------------------------------

  /** Plain proxy requests: absolute-URI HTTP, or a request for the proxy itself. */
  private onProxyRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const raw = req.url ?? "/";
    if (raw.startsWith("/")) {
      if (this.options.responder && !SELF_PATHS.has(raw)) {
        this.options.responder(req, res, { scheme: "http", host: "", port: 0, clientAddress: req.socket.remoteAddress });
        return;
      }
      this.serveSelf(req, res);
      return;
    }
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      sendPlain(res, 400, `graphtap: cannot parse request target "${truncate(raw, 80)}"\n`);
      return;
    }
    if (url.protocol !== "http:") {
      sendPlain(res, 400, `graphtap: only http:// absolute URIs are proxied without CONNECT\n`);
      return;
    }
    const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
    const port = Number(url.port || 80);
    req.url = url.pathname + url.search;
    const target: FlowTarget = { scheme: "http", host, port, clientAddress: req.socket.remoteAddress };
    if (this.options.responder && this.intercept.matches(host)) {
      this.options.responder(req, res, target);
      return;
    }
    this.forward(req, res, target, this.intercept.matches(host));
  }

  private onInterceptedRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const target = this.targets.get(req.socket);
    if (!target) {
      sendPlain(res, 500, "graphtap: lost the CONNECT target of this connection\n");
      return;
    }
    if (req.url && !req.url.startsWith("/")) {
      // Some clients send an absolute URI inside the tunnel; keep only the path.
      try {
        const u = new URL(req.url);
        req.url = u.pathname + u.search;
      } catch {
        sendPlain(res, 400, "graphtap: cannot parse request target\n");
        return;
      }
    }
    if (this.options.responder) {
      this.options.responder(req, res, target);
      return;
    }
    this.forward(req, res, target, true);
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, target: FlowTarget, record: boolean): void {
    const upstream = this.upstreams.get(target.host);
    const upstreamUrl = upstream?.url ?? new URL(`${target.scheme}://${hostForUrl(target.host)}:${target.port}`);
    const secure = upstreamUrl.protocol === "https:";
    const flow = new Flow(req, res, target, {
      sessionId: this.sessionId,
      maxBody: this.maxBody,
      upstreamUrl: upstream ? upstreamUrl : undefined,
      record,
      onDone: (ex) => {
        if (ex) this.emit("exchange", ex);
      },
    });
    this.flows.set(req, flow);
    this.forwarder.web(
      req,
      res,
      {
        target: {
          protocol: upstreamUrl.protocol,
          host: upstreamUrl.hostname.replace(/^\[|\]$/g, ""),
          hostname: upstreamUrl.hostname.replace(/^\[|\]$/g, ""),
          port: upstreamUrl.port || (secure ? "443" : "80"),
          path: upstreamUrl.pathname === "/" ? "" : upstreamUrl.pathname.replace(/\/$/, ""),
        } as unknown as httpProxy.ProxyTargetUrl,
        agent: secure ? this.httpsAgent : this.httpAgent,
        secure: true, // upstream certificates are always verified
        changeOrigin: upstream !== undefined,
        xfwd: false,
      },
      (err) => flow.fail(err),
    );
    flow.tapRequestBody();
  }

  /** GET / and GET /ca.pem on the proxy port itself (like mitmproxy's mitm.it). */
  private serveSelf(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method === "GET" && (req.url === "/ca.pem" || req.url === "/cert/pem")) {
      res.writeHead(200, {
        "content-type": "application/x-pem-file",
        "content-disposition": 'attachment; filename="graphtap-ca.pem"',
      });
      res.end(this.options.authority.certPem);
      return;
    }
    if (req.method === "GET" && req.url === "/") {
      sendPlain(
        res,
        200,
        `graphtap proxy: set HTTPS_PROXY=${this.address ? this.url : "http://this-host:port"} and trust the CA (GET /ca.pem).\n` +
          `intercepting: ${this.intercept.patterns.join(", ")}\n`,
      );
      return;
    }
    sendPlain(res, 400, "graphtap is a proxy: send absolute-URI requests or CONNECT host:port\n");
  }
}

/** What the proxy port answers itself (serveSelf). */
const SELF_PATHS = new Set(["/", "/ca.pem", "/cert/pem"]);

function isSecured(socket: net.Socket): boolean {
  const s = socket as tls.TLSSocket & { _secureEstablished?: boolean };
  return s._secureEstablished === true;
}

function isIdle(socket: net.Socket): boolean {
  const s = socket as net.Socket & { _httpMessage?: unknown };
  return !s._httpMessage;
}

function hostForUrl(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

function sendPlain(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
