// One request's journey through the proxy: taps both bodies on the side, notes
// timing, turns upstream failures into Graph-shaped 502/504 answers, stops the
// upstream when the client hangs up, and finally builds the redacted Exchange.
import type http from "node:http";
import { randomUUID } from "node:crypto";
import { newId } from "../exchange/id.js";
import { headerListFromRaw, redactBodySecrets, redactRequestHeaders, redactResponseHeaders } from "../exchange/redact.js";
import type { Exchange, ExchangeError } from "../exchange/types.js";
import { errorPhase, header } from "../exchange/types.js";
import { BodyTap } from "../exchange/body-tap.js";

export interface FlowTarget {
  scheme: "http" | "https";
  host: string;
  port: number;
  clientAddress?: string | undefined;
}

export interface FlowOptions {
  sessionId: string;
  maxBody: number;
  upstreamUrl: URL | undefined;
  /** False for traffic that is forwarded but not captured (non-intercepted plain HTTP). */
  record: boolean;
  /** Called once; with undefined for traffic that is not recorded. */
  onDone: (ex: Exchange | undefined) => void;
}

export class Flow {
  private readonly id = newId();
  private readonly startedAt = Date.now();
  private readonly t0 = performance.now();
  private readonly url: string;
  private readonly reqTap: BodyTap;
  private readonly resTap: BodyTap;
  private proxyReq: http.ClientRequest | undefined;
  private proxyRes: http.IncomingMessage | undefined;
  private ttfbMs: number | undefined;
  private error: ExchangeError | undefined;
  private done = false;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly target: FlowTarget,
    private readonly opts: FlowOptions,
  ) {
    const defaultPort = target.scheme === "https" ? 443 : 80;
    const host = target.host.includes(":") ? `[${target.host}]` : target.host;
    const authority = target.port === defaultPort ? host : `${host}:${target.port}`;
    this.url = `${target.scheme}://${authority}${req.url ?? "/"}`;
    const cap = opts.record ? opts.maxBody : 0;
    this.reqTap = new BodyTap(cap);
    this.resTap = new BodyTap(cap);
    res.once("close", () => this.finish());
  }

  tapRequestBody(): void {
    if (this.opts.record) this.req.on("data", (chunk: Buffer) => this.reqTap.push(chunk));
  }

  onUpstreamRequest(proxyReq: http.ClientRequest, timeoutMs: number): void {
    this.proxyReq = proxyReq;
    proxyReq.setTimeout(timeoutMs, () => {
      const err = Object.assign(new Error(`no response from upstream within ${timeoutMs} ms`), { code: "ETIMEDOUT" });
      this.fail(err);
      proxyReq.destroy(err);
    });
  }

  onUpstreamResponse(proxyRes: http.IncomingMessage): void {
    this.proxyRes = proxyRes;
    this.ttfbMs = performance.now() - this.t0;
    if (this.opts.record) proxyRes.on("data", (chunk: Buffer) => this.resTap.push(chunk));
    // http-proxy 1.18.1 does not watch the upstream response for errors.
    proxyRes.on("error", (err) => this.fail(err));
    proxyRes.on("aborted", () =>
      this.fail(Object.assign(new Error("upstream closed the connection mid-response"), { code: "ECONNRESET" })),
    );
  }

  /** An upstream failure: answer the client with a Graph-shaped error if still possible. */
  fail(err: NodeJS.ErrnoException): void {
    if (this.done || this.error) return;
    if (this.res.destroyed || this.req.socket.destroyed) {
      // The client left first; http-proxy reports that as an upstream ECONNRESET.
      this.error = clientAborted();
      this.stopUpstream();
      return;
    }
    const code = err.code ?? "UPSTREAM_ERROR";
    const phase = errorPhase(code, this.proxyRes ? "response" : "request");
    this.error = { code, message: err.message, phase };
    if (this.res.headersSent) {
      this.res.destroy(); // mid-body: the client must see a broken response, not a short one
      return;
    }
    const status = code === "ETIMEDOUT" ? 504 : 502;
    const where = this.opts.upstreamUrl?.origin ?? `${this.target.scheme}://${this.target.host}:${this.target.port}`;
    const body = JSON.stringify({
      error: {
        code: code === "ETIMEDOUT" ? "graphtapUpstreamTimeout" : "graphtapUpstreamError",
        message: `graphtap could not get a response from ${where}: ${code} ${err.message}`,
        innerError: {
          date: new Date().toISOString(),
          "request-id": randomUUID(),
          "client-request-id": header(headerListFromRaw(this.req.rawHeaders), "client-request-id") ?? "",
        },
      },
    });
    this.res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "x-graphtap-error": code,
    });
    this.res.end(body);
  }

  private stopUpstream(): void {
    // http-proxy 1.18.1 leaves the upstream response streaming when the client
    // aborts; destroying both ends frees the upstream socket now.
    this.proxyRes?.destroy();
    this.proxyReq?.destroy();
  }

  private finish(): void {
    if (this.done) return;
    if (!this.res.writableFinished) {
      this.error ??= clientAborted();
      this.stopUpstream();
    }
    this.done = true;
    if (!this.opts.record) {
      this.opts.onDone(undefined);
      return;
    }
    const { headers: requestHeaders, token } = redactRequestHeaders(headerListFromRaw(this.req.rawHeaders));
    const responseHeaders = this.proxyRes ? redactResponseHeaders(headerListFromRaw(this.proxyRes.rawHeaders)) : [];
    const requestBody = this.reqTap.finish(header(requestHeaders, "content-encoding"));
    const responseBody = this.resTap.finish(header(responseHeaders, "content-encoding"));
    const ex: Exchange = {
      id: this.id,
      sessionId: this.opts.sessionId,
      startedAt: this.startedAt,
      durationMs: round(performance.now() - this.t0),
      method: this.req.method ?? "GET",
      url: this.url,
      httpVersion: this.req.httpVersion,
      requestHeaders,
      responseHeaders,
    };
    if (this.ttfbMs !== undefined) ex.ttfbMs = round(this.ttfbMs);
    if (requestBody) ex.requestBody = { ...requestBody, bytes: redactBodySecrets(requestBody.bytes) };
    if (this.proxyRes) {
      ex.status = this.proxyRes.statusCode;
      if (this.proxyRes.statusMessage) ex.statusText = this.proxyRes.statusMessage;
    }
    if (responseBody) ex.responseBody = { ...responseBody, bytes: redactBodySecrets(responseBody.bytes) };
    if (this.error) ex.error = this.error;
    if (token) ex.token = token;
    if (this.opts.upstreamUrl) ex.upstreamUrl = this.opts.upstreamUrl.href;
    if (this.target.clientAddress) ex.clientAddress = this.target.clientAddress;
    this.opts.onDone(ex);
  }
}

function clientAborted(): ExchangeError {
  return {
    code: "CLIENT_ABORTED",
    message: "the client closed the connection before the response was complete",
    phase: "client",
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
