// graphtap serve: server replay. The proxy's CONNECT/TLS machinery terminates the app's
// HTTPS with the graphtap CA, and a responder answers from the capture instead of
// forwarding: the same request from the same identity gets that identity's recorded
// responses in recorded order (401 then 200 plays back as it happened; after the last,
// the last again). The caller's identity comes from its bearer token's claims (tenant +
// object id, so a refreshed token is still the same person; no token is "anonymous"):
// Alice's recorded 403 is never Megan's answer. `anyIdentity` matches identity-blind.
// Unmatched requests get a Graph-shaped 404 naming graphtap (and, when only other
// identities were recorded, naming the caller), or with `passthrough` go to the real host.
import { EventEmitter } from "node:events";
import http from "node:http";
import https from "node:https";
import { randomUUID } from "node:crypto";
import { headerListFromRaw, redactRequestHeaders } from "../exchange/redact.js";
import { NOT_REPLAYABLE_HEADERS, type Exchange } from "../exchange/types.js";
import { DEFAULT_GRAPH_HOSTS } from "../graph/hosts.js";
import { identityOf, type Identity } from "../graph/identity.js";
import type { FlowTarget } from "../proxy/flow.js";
import { upstreamSecureContext } from "../proxy/hosts.js";
import { GraphtapProxy } from "../proxy/server.js";
import type { CaptureReader, ExchangeFilter } from "../recorder/index.js";
import type { Authority } from "../tls/authority.js";
import { baseKey, bodyKey, type MatchOptions } from "./match.js";


export interface ServeOptions {
  reader: CaptureReader;
  authority: Authority;
  match: MatchOptions;
  host?: string;
  port?: number;
  /** Hosts whose CONNECTs are answered (default: the hosts in the capture plus the Graph hosts). */
  intercept?: readonly string[];
  passthrough?: boolean;
  /** Extra CA certificates (PEM) for passthrough upstream TLS. */
  upstreamCa?: string[];
  filter?: ExchangeFilter;
  /** Match identity-blind (today's token is another person than the recorded ones). */
  anyIdentity?: boolean;
}

export interface Answer {
  method: string;
  url: string;
  status: number;
  /** replayed: from the capture; unmatched: graphtap's 404; passthrough: the real host's answer. */
  how: "replayed" | "unmatched" | "passthrough" | "failed";
  exchangeId?: string;
  /** 1-based position among the recorded responses for this request, and how many there are. */
  nth?: number;
  of?: number;
  /** The caller's identity key (from its token's claims; "anonymous" without a token). */
  identity: string;
  /** The caller's sign-in name, when its token has one. */
  upn?: string;
  /** Unmatched only: recordings of this request made by other identities. */
  otherIdentities?: number;
}

interface Group {
  ids: string[];
  next: number;
}

/** The recordings of one request: all of them in order, and per identity key. */
interface Recorded {
  all: Group;
  byIdentity: Map<string, Group>;
}

export class ReplayServer extends EventEmitter<{ answer: [Answer]; warning: [string] }> {
  readonly proxy: GraphtapProxy;
  /** Recorded responses by request key, in recorded order. */
  private readonly groups = new Map<string, Recorded>();
  /** The capture's most frequent host: what base-URL requests stand for. */
  private readonly defaultHost: string;
  readonly recorded: number;
  private readonly agent: https.Agent;

  constructor(private readonly opts: ServeOptions) {
    super();
    const hosts = new Map<string, number>();
    let recorded = 0;
    for (const ex of opts.reader.exchanges(opts.filter)) {
      if (ex.status === undefined || ex.parentId) continue;
      const host = hostOf(ex.url);
      if (host) hosts.set(host, (hosts.get(host) ?? 0) + 1);
      // A truncated recorded body cannot be compared: it matches any body.
      const body = ex.requestBody && !ex.requestBody.truncated ? ex.requestBody.bytes : undefined;
      const key = keyOf(baseKey(ex.method, ex.url, ex.requestHeaders, opts.match), ex.requestBody?.truncated ? "*" : bodyKey(body, opts.match));
      let g = this.groups.get(key);
      if (!g) this.groups.set(key, (g = { all: { ids: [], next: 0 }, byIdentity: new Map() }));
      g.all.ids.push(ex.id);
      const who = identityOf(ex.token).key;
      let mine = g.byIdentity.get(who);
      if (!mine) g.byIdentity.set(who, (mine = { ids: [], next: 0 }));
      mine.ids.push(ex.id);
      recorded++;
    }
    this.recorded = recorded;
    this.defaultHost = [...hosts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "graph.microsoft.com";
    // Passthrough goes to real Graph too: the system roots stay trusted with the extra CA.
    const secureContext = upstreamSecureContext(opts.upstreamCa);
    this.agent = new https.Agent({ keepAlive: true, ...(secureContext ? { secureContext } : {}) });
    this.proxy = new GraphtapProxy({
      authority: opts.authority,
      host: opts.host ?? "127.0.0.1",
      port: opts.port ?? 8080,
      intercept: opts.intercept ?? [...new Set([...DEFAULT_GRAPH_HOSTS, ...hosts.keys()])],
      // A recording that cannot be played back (a header Node refuses, say) answers
      // that one request with a 502; it must never take the server down.
      responder: (req, res, target) =>
        void this.respond(req, res, target).catch((err: Error) => {
          this.emit("warning", `cannot answer ${req.method} ${req.url}: ${err.message}`);
          if (!res.headersSent) {
            const payload = JSON.stringify({ error: { code: "graphtapPlaybackFailed", message: `graphtap serve could not play this recording back: ${err.message}` } });
            res.writeHead(502, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
            res.end(payload);
          } else {
            res.destroy();
          }
        }),
    });
    this.proxy.on("warning", (m) => this.emit("warning", m));
  }

  /** The host a base-URL request (`GET /v1.0/me` to the serve port) stands for. */
  get baseHost(): string {
    return this.defaultHost;
  }

  async listen(): Promise<{ host: string; port: number; url: string }> {
    const addr = await this.proxy.listen();
    return { ...addr, url: this.proxy.url };
  }

  async close(): Promise<void> {
    await this.proxy.close();
    this.agent.destroy();
  }

  private async respond(req: http.IncomingMessage, res: http.ServerResponse, target: FlowTarget): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const direct = target.host === "";
    const url = direct
      ? `https://${this.defaultHost}${req.url ?? "/"}`
      : `${target.scheme}://${target.host}${defaultPort(target) ? "" : `:${target.port}`}${req.url ?? "/"}`;
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      return; // the client went away
    }
    const headers = headerListFromRaw(req.rawHeaders);
    // The raw token is hashed and decoded here and goes no further.
    const caller = identityOf(redactRequestHeaders(headers).token);
    const who: Pick<Answer, "identity" | "upn"> = caller.upn ? { identity: caller.key, upn: caller.upn } : { identity: caller.key };
    const base = baseKey(method, url, headers, this.opts.match);
    const candidates = [this.groups.get(keyOf(base, bodyKey(body, this.opts.match))), this.groups.get(keyOf(base, "*"))].filter(
      (r): r is Recorded => r !== undefined,
    );
    const group = this.opts.anyIdentity
      ? candidates[0]?.all
      : candidates.map((r) => r.byIdentity.get(caller.key)).find((g) => g !== undefined);
    const ex = group ? this.take(group) : undefined;
    if (group && ex) {
      this.send(res, method, ex);
      this.emit("answer", {
        method, url, status: ex.status ?? 0, how: "replayed", exchangeId: ex.id,
        nth: Math.min(group.next, group.ids.length), of: group.ids.length, ...who,
      });
      return;
    }
    // Recordings of this request exist, but by someone else: say so rather than pretend
    // the request was never made.
    const others = candidates.reduce((n, r) => n + r.all.ids.length, 0);
    if (this.opts.passthrough) {
      await this.passthrough(req, res, method, url, headers, body, who);
      return;
    }
    const message =
      others > 0
        ? `graphtap serve has no recorded response for ${method} ${url} as ${describeIdentity(caller)}; ` +
          `${others} recording${others === 1 ? "" : "s"} of other identities exist${others === 1 ? "s" : ""} ` +
          "(graphtap serve --any-identity answers any caller with them)"
        : `graphtap serve has no recorded response for ${method} ${url}`;
    const payload = JSON.stringify({
      error: {
        code: "graphtapNoRecordedResponse",
        message,
        innerError: { date: new Date().toISOString().replace(/\.\d+Z$/, ""), "request-id": randomUUID() },
      },
    });
    res.writeHead(404, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(payload),
      "x-graphtap": "no-recorded-response",
    });
    res.end(method === "HEAD" ? undefined : payload);
    this.emit("answer", { method, url, status: 404, how: "unmatched", ...who, ...(others > 0 ? { otherIdentities: others } : {}) });
  }

  /** The next recorded response of the group; after the last one, the last one again. */
  private take(group: Group): Exchange | undefined {
    const i = Math.min(group.next, group.ids.length - 1);
    group.next = Math.min(group.next + 1, group.ids.length);
    const id = group.ids[i];
    return id === undefined ? undefined : this.opts.reader.exchange(id);
  }

  private send(res: http.ServerResponse, method: string, ex: Exchange): void {
    const bytes = ex.responseBody?.bytes ?? Buffer.alloc(0);
    const raw: string[] = [];
    for (const [k, v] of ex.responseHeaders) {
      if (NOT_REPLAYABLE_HEADERS.has(k)) continue;
      try {
        // Recorded by other tools (a HAR), a value may hold what HTTP forbids (a newline).
        http.validateHeaderName(k);
        http.validateHeaderValue(k, v);
      } catch {
        continue;
      }
      raw.push(k, v);
    }
    raw.push("content-length", String(bytes.length), "x-graphtap-exchange", ex.id);
    const status = ex.status !== undefined && ex.status >= 100 && ex.status <= 999 ? ex.status : 502;
    const statusText = ex.statusText && !/[\r\n]/.test(ex.statusText) ? ex.statusText : undefined;
    res.writeHead(status, statusText, raw);
    res.end(method === "HEAD" ? undefined : bytes);
  }

  private passthrough(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    method: string,
    url: string,
    headers: Array<[string, string]>,
    body: Buffer,
    who: Pick<Answer, "identity" | "upn">,
  ): Promise<void> {
    return new Promise((resolve) => {
      const u = new URL(url.replace(/^http:/, "https:"));
      const out: string[] = [];
      for (const [k, v] of headers) if (!NOT_REPLAYABLE_HEADERS.has(k) && k !== "host") out.push(k, v);
      out.push("host", u.host);
      if (body.length) out.push("content-length", String(body.length));
      const upstream = https.request(
        { method, hostname: u.hostname, port: u.port || 443, path: `${u.pathname}${u.search}`, headers: out, agent: this.agent },
        (up) => {
          const raw: string[] = [];
          for (let i = 0; i + 1 < up.rawHeaders.length; i += 2) {
            const k = up.rawHeaders[i]!;
            const lk = k.toLowerCase();
            // The bytes are piped as they came, so their length and encoding still hold.
            if (!NOT_REPLAYABLE_HEADERS.has(lk) || lk === "content-length" || lk === "content-encoding") raw.push(k, up.rawHeaders[i + 1]!);
          }
          res.writeHead(up.statusCode ?? 502, up.statusMessage, raw);
          up.pipe(res);
          up.once("end", () => {
            this.emit("answer", { method, url, status: up.statusCode ?? 502, how: "passthrough", ...who });
            resolve();
          });
          up.once("error", () => resolve());
        },
      );
      upstream.once("error", (err) => {
        const payload = JSON.stringify({
          error: { code: "graphtapPassthroughFailed", message: `graphtap serve could not reach ${u.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}` },
        });
        if (!res.headersSent) res.writeHead(502, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
        res.end(payload);
        this.emit("answer", { method, url, status: 502, how: "failed", ...who });
        resolve();
      });
      // req's 'close' fires as soon as its body is read; the response tells when the
      // client really left.
      res.once("close", () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(body.length ? body : undefined);
    });
  }
}

/** `megan@contoso.com (tid:oid)`, or the key alone (`anonymous`, `token:…`, an app). */
export function describeIdentity(id: Identity): string {
  return id.upn ? `${id.upn} (${id.key})` : id.key;
}

function keyOf(base: string, body: string): string {
  return `${base}\n#${body}`;
}

function hostOf(url: string): string | undefined {
  return /^https?:\/\/([^/:?#]+)/i.exec(url)?.[1]?.toLowerCase();
}

function defaultPort(t: FlowTarget): boolean {
  return (t.scheme === "https" && t.port === 443) || (t.scheme === "http" && t.port === 80);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
    req.once("aborted", () => reject(new Error("aborted")));
  });
}
