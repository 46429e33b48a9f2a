// Which recorded exchanges a replay re-sends: the whole capture, one session, one
// identity, a range, or one flip. Always a stream from the reader (never the whole
// capture in memory), top-level exchanges only: a $batch envelope is one step.
import { findFlips } from "../analyze/flips.js";
import { openInput } from "../analyze/inputs.js";
import { UserError } from "../errors.js";
import type { Exchange } from "../exchange/types.js";
import { identityOf } from "../graph/identity.js";
import { templateOf } from "../graph/templates.js";
import type { CaptureReader, ExchangeFilter } from "../recorder/reader.js";

export interface SelectOptions {
  session?: string;
  /** An identity key (tenant:oid, app:…, token:…, anonymous) or a upn. */
  identity?: string;
  /** FROM..TO, each an exchange id or a 1-based index; either side may be left out. */
  range?: string;
  /** 1-based, in the order analyze reports flips. */
  flip?: number;
}

export interface Selection {
  /** What was selected, for the report. */
  description: string;
  /** The identity keys the selection is limited to, if any. */
  identityKeys: Set<string> | undefined;
  /** A fresh stream over the selected exchanges, in recorded order. */
  exchanges(): Generator<Exchange>;
}

interface RangeEnd {
  kind: "index" | "id";
  value: string;
}

export function parseRange(range: string): { from?: RangeEnd; to?: RangeEnd } {
  const m = /^\s*([^.\s]*)\s*\.\.\s*([^.\s]*)\s*$/.exec(range);
  if (!m || (m[1] === "" && m[2] === "")) {
    throw new UserError(`bad --range "${range}": expected FROM..TO (exchange ids or 1-based indexes, e.g. 5..12)`);
  }
  const end = (s: string): RangeEnd | undefined => {
    if (s === "") return undefined;
    if (/^\d+$/.test(s)) {
      if (Number(s) < 1) throw new UserError(`bad --range "${range}": indexes start at 1`);
      return { kind: "index", value: s };
    }
    return { kind: "id", value: s };
  };
  const out: { from?: RangeEnd; to?: RangeEnd } = {};
  const from = end(m[1]!);
  const to = end(m[2]!);
  if (from) out.from = from;
  if (to) out.to = to;
  if (from?.kind === "index" && to?.kind === "index" && Number(to.value) < Number(from.value)) {
    throw new UserError(`bad --range "${range}": ${to.value} comes before ${from.value}`);
  }
  return out;
}

export function select(reader: CaptureReader, file: string, opts: SelectOptions): Selection {
  const filter: ExchangeFilter = {};
  const parts: string[] = [];

  let replaySession = false;
  if (opts.session !== undefined) {
    const sessions = reader.sessions();
    const s = sessions.find((x) => x.id === opts.session) ?? sessions.find((x) => x.id.toLowerCase() === opts.session!.toLowerCase());
    if (!s) {
      const list = sessions.map((x) => `${x.id} (${x.kind}, ${x.exchanges} exchanges)`).join(", ");
      throw new UserError(`unknown session "${opts.session}" in ${file}; its sessions: ${list || "none"}`);
    }
    filter.sessionId = s.id;
    replaySession = s.kind === "replay";
    parts.push(`session ${s.id}`);
  }

  let identityKeys: Set<string> | undefined;
  if (opts.identity !== undefined) {
    identityKeys = resolveIdentity(reader, file, opts.identity);
    parts.push(`identity ${opts.identity}`);
  }

  let flipBounds: { first: string; last: string } | undefined;
  if (opts.flip !== undefined) {
    const flip = findFlip(file, opts.flip);
    if (identityKeys && !identityKeys.has(flip.identityKey)) {
      throw new UserError(`flip ${opts.flip} is of identity ${flip.identityKey}, not of --identity ${opts.identity}`);
    }
    identityKeys = new Set([flip.identityKey]);
    flipBounds = { first: flip.first, last: flip.last };
    parts.push(`flip ${opts.flip} (${flip.template}: ${flip.failureStatus} → ${flip.successStatus})`);
  }
  if (identityKeys?.size === 1) filter.identityKey = [...identityKeys][0]!;

  const range = opts.range !== undefined ? parseRange(opts.range) : undefined;
  for (const end of [range?.from, range?.to]) {
    if (end?.kind === "id" && !reader.exchange(end.value)) {
      throw new UserError(`bad --range "${opts.range}": no exchange ${end.value} in ${file}`);
    }
  }
  if (opts.range !== undefined) parts.push(`range ${opts.range}`);

  const keys = identityKeys;
  return {
    description: parts.length ? parts.join(", ") : "whole capture",
    identityKeys: keys,
    *exchanges() {
      let index = 0;
      let started = range?.from === undefined && flipBounds === undefined;
      let inFlip = flipBounds === undefined;
      for (const ex of reader.exchanges(filter)) {
        // Batch parts stored as rows travel inside their envelope; replayed rows are
        // results, not recordings (unless a replay session was asked for by name).
        if (ex.parentId !== undefined) continue;
        if (ex.sourceId !== undefined && !replaySession) continue;
        if (keys && !keys.has(identityKeyOf(ex))) continue;
        if (flipBounds) {
          if (!inFlip && ex.id === flipBounds.first) inFlip = true;
          if (!inFlip) continue;
        }
        index++;
        if (!started) {
          const from = range?.from;
          if (from === undefined || (from.kind === "index" ? index >= Number(from.value) : ex.id === from.value)) started = true;
          else continue;
        }
        yield ex;
        const to = range?.to;
        if (to && (to.kind === "index" ? index >= Number(to.value) : ex.id === to.value)) return;
        if (flipBounds && ex.id === flipBounds.last) return;
      }
    },
  };
}

/** The key the recorder stores for an exchange (see analyze/inputs for the same rule). */
export function identityKeyOf(ex: Exchange): string {
  return ex.token ? identityKeyOfToken(ex.token.hash, ex.token.claims) : "anonymous";
}

function identityKeyOfToken(hash: string, claims: Record<string, unknown>): string {
  return identityOf({ hash, claims }).key;
}

function resolveIdentity(reader: CaptureReader, file: string, wanted: string): Set<string> {
  const w = wanted.toLowerCase();
  if (w === "anonymous") return new Set(["anonymous"]);
  const rows = reader.identities();
  const keys = new Set(rows.filter((r) => r.identityKey.toLowerCase() === w || r.upn?.toLowerCase() === w).map((r) => r.identityKey));
  if (keys.size === 0) {
    const known = [...new Map(rows.map((r) => [r.identityKey, r.upn ? `${r.upn} (${r.identityKey})` : r.identityKey])).values()];
    throw new UserError(`no identity "${wanted}" in ${file}; its identities: ${known.join(", ") || "none (no tokens recorded)"}`);
  }
  return keys;
}

interface FlipPick {
  identityKey: string;
  template: string;
  failureStatus: number | undefined;
  successStatus: number | undefined;
  /** Top-level exchange ids (a $batch part's envelope) of the failure and the success. */
  first: string;
  last: string;
}

function findFlip(file: string, n: number): FlipPick {
  const input = openInput(file, 0);
  try {
    const { flips } = findFlips({ [Symbol.iterator]: () => input.calls() });
    const flip = flips[n - 1];
    if (!flip) {
      throw new UserError(
        flips.length === 0 ? `${file} has no flips: nothing for --flip ${n}` : `--flip ${n}: ${file} has ${flips.length} flip${flips.length === 1 ? "" : "s"} (1..${flips.length})`,
      );
    }
    return {
      identityKey: flip.identityKey,
      template: flip.template || templateOf(flip.failure.method, flip.failure.url),
      failureStatus: flip.failure.status,
      successStatus: flip.success.status,
      first: flip.failure.parentId ?? flip.failure.id,
      last: flip.success.parentId ?? flip.success.id,
    };
  } finally {
    input.close();
  }
}
