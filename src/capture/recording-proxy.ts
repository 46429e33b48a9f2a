// Wires the flow of events: proxy ──exchange──▶ recorder (SQLite) and console.
// The proxy and the recorder never meet except here.
import { UserError } from "../errors.js";
import { LiveConsole } from "../console/live.js";
import { GraphtapProxy } from "../proxy/server.js";
import { parseUpstreams, readUpstreamCa } from "../proxy/hosts.js";
import { ThreadedCaptureWriter } from "../recorder/thread.js";
import { CaptureWriter } from "../recorder/writer.js";
import type { Authority } from "../tls/authority.js";

export interface RecordingProxyOptions {
  host: string;
  port: number;
  db: string;
  /** The CA, or a function that makes it: called only once the other inputs are valid,
   * so a typo in a flag never leaves a new CA behind. */
  authority: Authority | (() => Authority);
  intercept?: readonly string[];
  upstream?: readonly string[];
  upstreamCaFiles?: readonly string[];
  maxBody?: number;
  upstreamTimeoutMs?: number;
  /** Where live lines go; undefined for none. */
  console?: { out: NodeJS.WritableStream; color: boolean };
  /** One-line warnings (default: stderr). */
  onWarning?: (message: string) => void;
  sessionKind?: "proxy" | "demo";
  /** Record on a worker thread when the build has one (default true). */
  recorderThread?: boolean;
  args?: unknown;
}

/** What the proxy's events are recorded by: in this thread, or on the recorder's own. */
export type Recorder = Pick<CaptureWriter, "sessionId" | "written" | "dropped" | "attach"> & {
  close(): void | Promise<void>;
};

export interface RecordingProxy {
  proxy: GraphtapProxy;
  writer: Recorder;
  liveConsole: LiveConsole | undefined;
  url: string;
  host: string;
  port: number;
  /** Closes the proxy, then flushes and closes the capture: nothing completed is lost. */
  stop(): Promise<void>;
}

export async function startRecordingProxy(opts: RecordingProxyOptions): Promise<RecordingProxy> {
  const upstreams = parseUpstreams(opts.upstream ?? []);
  const upstreamCa = readUpstreamCa(opts.upstreamCaFiles ?? []);
  const session = { kind: opts.sessionKind ?? "proxy", args: opts.args } as const;
  // From the compiled build the recorder gets its own thread; the test suite, which runs
  // the sources, records in-thread (the worker script exists only in dist/).
  const writer: Recorder =
    opts.recorderThread !== false && ThreadedCaptureWriter.available()
      ? await ThreadedCaptureWriter.open(opts.db, session)
      : CaptureWriter.open(opts.db);
  const sessionId = writer instanceof CaptureWriter ? writer.startSession(session) : writer.sessionId!;
  let authority: Authority;
  try {
    authority = typeof opts.authority === "function" ? opts.authority() : opts.authority;
  } catch (err) {
    await writer.close();
    throw err;
  }
  const proxy = new GraphtapProxy({
    host: opts.host,
    port: opts.port,
    authority,
    ...(opts.intercept?.length ? { intercept: opts.intercept } : {}),
    upstreams,
    upstreamCa,
    ...(opts.maxBody !== undefined ? { maxBody: opts.maxBody } : {}),
    ...(opts.upstreamTimeoutMs !== undefined ? { upstreamTimeoutMs: opts.upstreamTimeoutMs } : {}),
    sessionId,
  });
  const warn = opts.onWarning ?? ((m: string) => process.stderr.write(`graphtap: ${m}\n`));
  proxy.on("warning", warn);
  writer.attach(proxy);
  const liveConsole = opts.console ? new LiveConsole(opts.console) : undefined;
  liveConsole?.attach(proxy);
  let address: { host: string; port: number };
  try {
    address = await proxy.listen();
  } catch (err) {
    await writer.close();
    const e = err as NodeJS.ErrnoException;
    throw new UserError(
      e.code === "EADDRINUSE"
        ? `port ${opts.port} on ${opts.host} is in use (try --port 0 for a free one)`
        : `cannot listen on ${opts.host}:${opts.port}: ${e.code ?? e.message}`,
    );
  }
  let stopped: Promise<void> | undefined;
  return {
    proxy,
    writer,
    liveConsole,
    url: proxy.url,
    host: address.host,
    port: address.port,
    stop: () =>
      (stopped ??= (async () => {
        await proxy.close();
        await writer.close();
      })()),
  };
}
