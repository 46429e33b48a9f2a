// graphtap replay: select recorded exchanges, rewrite them for another tenant, send
// them (or only print the plan), record what came back and compare it step by step.
// Two passes over the selection: the first checks everything that can be checked
// before a single request leaves (tokens, safety, unmapped ids), the second sends
// the steps the first planned (kept while they fit a budget, else read again).
import { existsSync, mkdirSync, realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Agent, type Dispatcher } from "undici";
import { UserError } from "../errors.js";
import type { Exchange } from "../exchange/types.js";
import { parseUpstreams, readUpstreamCa, upstreamSecureContext } from "../proxy/hosts.js";
import { CaptureReader } from "../recorder/reader.js";
import { CaptureWriter } from "../recorder/writer.js";
import { compareStep, type StepResult } from "./compare.js";
import { loadMap, Rewriter, UncoveredIds, type ReplayMap } from "./map.js";
import { planStep, type PlanContext, type Step } from "./plan.js";
import { progressBar, skippedEntry, type ReplayReport } from "./report.js";
import { select, type SelectOptions } from "./select.js";
import { isTlsFailure, sendStep, sleep, type Pace } from "./send.js";
import { TokenBook, type TokenFlags, type TokenSource } from "./tokens.js";

export { parseMap, loadMap, Rewriter, UncoveredIds } from "./map.js";
export { parsePace, retryAfterMs, type Pace } from "./send.js";
export { formatPlan, formatTable, summaryLine, toJson, type ReplayReport } from "./report.js";
export type { StepResult } from "./compare.js";

export interface ReplayOptions extends TokenFlags {
  file: string;
  select?: SelectOptions;
  upstream?: readonly string[];
  upstreamCaFiles?: readonly string[];
  map?: string;
  allowWrites?: boolean;
  dryRun?: boolean;
  /** The output capture (default recordings/replay-<time>.sqlite). */
  db?: string;
  pace?: Pace;
  /** Retries of one step after 429/503 with Retry-After (default 3). */
  maxRetries?: number;
  /** Longest Retry-After waited for (default 120 s). */
  maxRetryWaitMs?: number;
  /** Stop after this many transport failures in a row (default 5). */
  maxFailures?: number;
  timeoutMs?: number;
  maxBody?: number;
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
  /** Show a progress bar when stderr is a terminal (default true). */
  progress?: boolean;
  /** Recorded in the replay session (never the token itself). */
  args?: unknown;
  /** Steps queued ahead of the senders (default 512). */
  maxQueued?: number;
  /**
   * Bytes (roughly: bodies, headers, URLs) of checked steps kept from the first pass for
   * the second, so a selection that fits is read and planned once and exactly what was
   * checked is sent (default 64 MiB; 0: always read the capture again).
   */
  keepPlanBytes?: number;
}

export interface ReplayResult {
  report: ReplayReport;
  /** Only for --dry-run: the steps that would be sent. */
  plan?: Step[];
}

export function defaultReplayDb(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").replace(/\..*$/, "");
  let file = `recordings/replay-${stamp}.sqlite`;
  for (let i = 2; existsSync(file); i++) file = `recordings/replay-${stamp}-${i}.sqlite`;
  return file;
}

export async function runReplay(opts: ReplayOptions): Promise<ReplayResult> {
  const warn = opts.onWarning ?? ((m: string) => process.stderr.write(`graphtap: warning: ${m}\n`));
  const map: ReplayMap = opts.map !== undefined ? loadMap(opts.map) : { replace: {}, tokens: {} };
  const tokens = new TokenBook(opts, map.tokens);
  const upstreams = parseUpstreams(opts.upstream ?? []);
  for (const [host, t] of upstreams) {
    if (t.url.protocol !== "https:") throw new UserError(`bad --upstream ${host}=${t.url.href}: replay sends tokens, so only https:// upstreams are allowed`);
  }
  const ca = readUpstreamCa(opts.upstreamCaFiles ?? []);

  const reader = CaptureReader.open(opts.file);
  try {
    const selection = select(reader, opts.file, opts.select ?? {});
    const ctx: PlanContext = { rewriter: new Rewriter(map.replace), upstreams, allowWrites: opts.allowWrites ?? false, tokens };

    // ---- pass 1: check before anything is sent ----------------------------------------
    const uncovered = new UncoveredIds();
    const missing = new Map<string, string | undefined>();
    const used = new Set<TokenSource>();
    const skipped: ReplayReport["skipped"] = [];
    const plan: Step[] = [];
    // The checked steps, kept for pass 2 while they fit the budget (else read again).
    let kept: Step[] | undefined = opts.dryRun ? undefined : [];
    let keptBytes = 0;
    const keepBudget = opts.keepPlanBytes ?? 64 * 1024 * 1024;
    let sendable = 0;
    let index = 0;
    for (const ex of selection.exchanges()) {
      const p = planStep(ex, ++index, { ...ctx, uncovered });
      if ("missingToken" in p) missing.set(p.missingToken.identityKey, p.missingToken.upn);
      else if ("skip" in p) skipped.push(skippedEntry(p.skip));
      else {
        sendable++;
        if (p.step.token) used.add(p.step.token);
        if (opts.dryRun) plan.push(p.step);
        if (kept) {
          keptBytes += stepBytes(p.step);
          if (keptBytes <= keepBudget) kept.push(p.step);
          else kept = undefined;
        }
      }
    }
    if (index === 0) throw new UserError(`nothing to replay: ${selection.description} of ${opts.file} selects no recorded exchange`);
    if (missing.size) {
      const who = [...missing].map(([key, upn]) => (upn ? `${upn} (${key})` : key));
      throw new UserError(
        `no token for ${who.join(", ")}: give --token, --token-file or --token-cmd, or "tokens": { "${[...missing][0]![1] ?? [...missing][0]![0]}": "env:VAR" } in the map file; nothing was sent`,
      );
    }
    const notCovered = uncovered.list;
    if (notCovered.length) {
      const shown = notCovered.slice(0, 8).map((u) => `${u.id} (${u.kind}, ${u.requests} request${u.requests === 1 ? "" : "s"})`);
      warn(
        `${notCovered.length} tenant-specific looking id${notCovered.length === 1 ? " is" : "s are"} not in the map${opts.map ? ` ${opts.map}` : " (no --map)"}: ${shown.join(", ")}${notCovered.length > 8 ? ", …" : ""}`,
      );
    }
    for (const name of tokens.unused(used)) warn(`the map's token for "${name}" matches no identity of the selection`);

    const base: ReplayReport = {
      steps: [],
      diverged: 0,
      skipped,
      capture: null,
      session: null,
      selection: selection.description,
      stopped: null,
      interrupted: false,
      dryRun: opts.dryRun ?? false,
    };
    if (opts.dryRun) return { report: base, plan };

    // Tokens are fetched now: a failing command stops the replay before anything is sent.
    for (const source of used) await source.get();

    // ---- pass 2: send -----------------------------------------------------------------
    const out = opts.db ?? defaultReplayDb();
    if (sameFile(out, opts.file)) throw new UserError(`--db ${out} is the capture being replayed: write the replay to another file`);
    mkdirSync(dirname(resolve(out)), { recursive: true });
    const writer = CaptureWriter.open(out);
    const session = writer.startSession({ kind: "replay", source: opts.file, ...(opts.args !== undefined ? { args: opts.args } : {}) });
    base.capture = out;
    base.session = session;
    const dispatcher: Dispatcher = new Agent({
      connect: ca.length ? { secureContext: upstreamSecureContext(ca) } : {},
      keepAliveTimeout: 10_000,
      connections: 16,
    });
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) controller.abort();
    const bar = opts.progress === false ? { tick: () => undefined, stop: () => undefined } : progressBar(sendable);
    try {
      const steps = kept ? drain(kept) : planned(selection.exchanges(), ctx);
      kept = undefined;
      const results = await sendAll(steps, {
        pace: opts.pace ?? { kind: "fast" },
        maxFailures: opts.maxFailures ?? 5,
        maxQueued: opts.maxQueued ?? 512,
        signal: controller.signal,
        onStop: (reason) => {
          base.stopped ??= reason;
          controller.abort();
        },
        tick: bar.tick,
        send: {
          dispatcher,
          sessionId: session,
          maxBody: opts.maxBody ?? 1024 * 1024,
          timeoutMs: opts.timeoutMs ?? 120_000,
          maxRetries: opts.maxRetries ?? 3,
          maxRetryWaitMs: opts.maxRetryWaitMs ?? 120_000,
          signal: controller.signal,
          record: (ex) => writer.write(ex),
        },
      });
      base.steps = results;
      base.diverged = results.filter((r) => r.diverged).length;
      base.interrupted = opts.signal?.aborted === true;
      return { report: base };
    } finally {
      bar.stop();
      opts.signal?.removeEventListener("abort", onAbort);
      // Whatever was replayed reaches the file, whatever happened above.
      writer.close();
      await dispatcher.close().catch(() => undefined);
    }
  } finally {
    reader.close();
  }
}

interface SendAllOptions {
  pace: Pace;
  maxFailures: number;
  maxQueued: number;
  signal: AbortSignal;
  onStop: (reason: string) => void;
  tick: () => void;
  send: Parameters<typeof sendStep>[1];
}

/**
 * One lane per identity: a lane's steps go one after another in recorded order, lanes
 * run side by side. The selection is pulled lazily, at most `maxQueued` steps ahead.
 */
async function sendAll(steps: Iterable<Step>, o: SendAllOptions): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const lanes = new Map<string, Promise<void>>();
  let queued = 0;
  let wake: (() => void) | undefined;
  let consecutive = 0;
  let fatal: unknown;
  const t0 = Date.now();
  let firstAt: number | undefined;

  const runOne = async (step: Step, due: number): Promise<void> => {
    if (o.signal.aborted) return;
    await sleep(due - Date.now(), o.signal);
    if (o.signal.aborted) return;
    const outcome = await sendStep(step, o.send);
    const err = outcome.exchange.error;
    // A step cut short by Ctrl-C or a stop is recorded but not reported as a result.
    if (err?.code === "CLIENT_ABORTED") return;
    results.push(compareStep(step, outcome));
    o.tick();
    if (err && outcome.exchange.status === undefined) {
      consecutive++;
      if (isTlsFailure(err)) {
        o.onStop(`TLS verification of ${new URL(step.sendUrl).origin} failed (${err.code}); pass --upstream-ca with the CA that signed it`);
      } else if (consecutive >= o.maxFailures) {
        o.onStop(`stopped after ${consecutive} consecutive connection failures (last: ${err.code} on ${step.method} ${step.sendUrl})`);
      }
    } else consecutive = 0;
  };

  for (const step of steps) {
    if (o.signal.aborted) break;
    const startedAt = step.source.startedAt;
    firstAt ??= startedAt;
    const due = o.pace.kind === "scaled" ? t0 + (startedAt - firstAt) / o.pace.factor : 0;
    while (queued >= o.maxQueued) await new Promise<void>((r) => (wake = r));
    queued++;
    const prev = lanes.get(step.identityKey) ?? Promise.resolve();
    lanes.set(
      step.identityKey,
      prev
        .then(() => runOne(step, due))
        .catch((err: unknown) => {
          // A token that cannot be refreshed (a failing command): stop, keep what was done.
          fatal ??= err;
          o.onStop(err instanceof Error ? err.message : String(err));
        })
        .finally(() => {
          queued--;
          const w = wake;
          wake = undefined;
          w?.();
        }),
    );
  }
  await Promise.all(lanes.values());
  if (fatal !== undefined && !(fatal instanceof UserError)) throw fatal;
  return results.sort((a, b) => a.step - b.step);
}

/** Pass 2 from the capture: the selection read and planned again. */
function* planned(exchanges: Iterable<Exchange>, ctx: PlanContext): Generator<Step> {
  let index = 0;
  for (const ex of exchanges) {
    const p = planStep(ex, ++index, ctx);
    if ("step" in p) yield p.step;
  }
}

/** Pass 2 from the steps kept by pass 1, each let go once handed over. */
function* drain(steps: Step[]): Generator<Step> {
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    steps[i] = undefined as unknown as Step;
    yield step;
  }
  steps.length = 0;
}

/** What a kept step holds on to, roughly. */
function stepBytes(step: Step): number {
  const ex = step.source;
  let n = 512 + (ex.url.length + step.url.length + step.sendUrl.length) * 2;
  for (const [k, v] of ex.requestHeaders) n += (k.length + v.length) * 2 + 64;
  for (const [k, v] of ex.responseHeaders) n += (k.length + v.length) * 2 + 64;
  for (const [k, v] of step.headers) n += (k.length + v.length) * 2 + 64;
  n += (ex.requestBody?.bytes.length ?? 0) + (ex.responseBody?.bytes.length ?? 0) + (step.body?.length ?? 0);
  return n;
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
}
