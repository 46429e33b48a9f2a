// How the simulated tenant misbehaves, per principal: the guest warm-up (the story
// graphtap exists for), failures tied to a token, throttling, and failures that never
// recover. Pure state machines driven by the sim clock, so tests control time.
import { tokenHash } from "../graph/token.js";

export interface WarmUpBehaviour {
  /**
   * Path patterns whose call warms the guest up, whatever its own status. A pattern is
   * an optional method ("GET ") and a path without the version; `{x}` or `*` match one
   * segment, `**` any number. Default: any call to /groups/{id}/drive.
   */
  catalysts?: string[];
  /** How long access lasts once granted. */
  warmForMs: number;
  /** Status and code of the refusal while cold. Default 401 accessDenied. */
  failStatus?: number;
  failCode?: string;
  /** Access is granted only this long after the catalyst. Default 0. */
  propagationDelayMs?: number;
}

export interface TokenBoundBehaviour {
  /** Tokens issued (iat, seconds) before this second (epoch ms, truncated) are refused. */
  issuedBefore?: number;
  /** Raw tokens, or their tokenHash(), that are refused. */
  tokens?: string[];
  /** Default 401 InvalidAuthenticationToken. */
  status?: number;
  code?: string;
  /** Only these path patterns are affected (default: every call). */
  paths?: string[];
}

export interface ThrottleBehaviour {
  /** Every Nth call of the principal is refused. */
  everyN?: number;
  /** At most `limit` calls per fixed window of `windowMs`. */
  limit?: number;
  windowMs?: number;
  /** Retry-After for everyN (default 1); a window limit says when the window ends. */
  retryAfterSeconds?: number;
  paths?: string[];
}

export interface FailAlwaysBehaviour {
  paths: string[];
  /** Default 403 accessDenied. */
  status?: number;
  code?: string;
  message?: string;
}

export interface PrincipalBehaviours {
  warmUp?: WarmUpBehaviour;
  tokenBound?: TokenBoundBehaviour;
  throttle?: ThrottleBehaviour;
  failAlways?: string[] | FailAlwaysBehaviour;
}

/** A refusal a behaviour decided on. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
  /** Which behaviour refused: shows up in the sim's request log. */
  behaviour: "warmUp" | "tokenBound" | "throttle" | "failAlways";
}

export interface CallFacts {
  method: string;
  /** Path without version prefix and query: /shares/u!…/driveItem */
  path: string;
  /** The raw bearer token. */
  token: string;
  /** iat claim (seconds). */
  issuedAt: number | undefined;
  now: number;
}

export interface WarmState {
  warm: boolean;
  /** Sim time the current or next grant starts, if a catalyst happened. */
  grantedFrom?: number;
  grantedUntil?: number;
  lastCatalystAt?: number;
}

export const DEFAULT_CATALYSTS = ["/groups/{id}/drive"];

interface State {
  config: PrincipalBehaviours;
  grantedFrom?: number;
  grantedUntil?: number;
  lastCatalystAt?: number;
  calls: number;
  windowStart?: number;
  windowCount: number;
}

/** Behaviours and their state, per principal id. */
export class BehaviourEngine {
  private readonly states = new Map<string, State>();

  /** Sets (or with undefined, removes) a principal's behaviours; warm-up state survives. */
  set(principalId: string, config: PrincipalBehaviours | undefined): void {
    const prev = this.states.get(principalId);
    if (!config) {
      this.states.delete(principalId);
      return;
    }
    this.states.set(principalId, { ...freshState(config), ...keepWarm(prev), config });
  }

  get(principalId: string): PrincipalBehaviours | undefined {
    return this.states.get(principalId)?.config;
  }

  /** Forgets warm-up grants and throttle counters (configs stay). */
  reset(principalId?: string): void {
    for (const [id, s] of this.states) {
      if (principalId === undefined || id === principalId) this.states.set(id, freshState(s.config));
    }
  }

  /** Refusals decided before the call is routed: throttle, token-bound, fail-always. */
  before(principalId: string, call: CallFacts): Refusal | undefined {
    const s = this.states.get(principalId);
    if (!s) return undefined;
    const { throttle, tokenBound } = s.config;
    if (throttle && applies(throttle.paths, call)) {
      s.calls++;
      if (throttle.everyN && throttle.everyN > 0 && s.calls % throttle.everyN === 0) {
        return tooMany(throttle.retryAfterSeconds ?? 1);
      }
      if (throttle.limit !== undefined && throttle.windowMs) {
        if (s.windowStart === undefined || call.now >= s.windowStart + throttle.windowMs) {
          s.windowStart = call.now;
          s.windowCount = 0;
        }
        if (s.windowCount >= throttle.limit) {
          const left = s.windowStart + throttle.windowMs - call.now;
          return tooMany(throttle.retryAfterSeconds ?? Math.max(1, Math.ceil(left / 1000)));
        }
        s.windowCount++;
      }
    }
    if (tokenBound && applies(tokenBound.paths, call) && tokenRefused(tokenBound, call)) {
      const code = tokenBound.code ?? "InvalidAuthenticationToken";
      return {
        status: tokenBound.status ?? 401,
        code,
        message:
          code === "InvalidAuthenticationToken"
            ? "Access token validation failure. The token was issued before the user's sessions were revoked."
            : "Access denied",
        behaviour: "tokenBound",
      };
    }
    const fail = failAlwaysOf(s.config);
    if (fail && applies(fail.paths, call)) {
      return {
        status: fail.status ?? 403,
        code: fail.code ?? "accessDenied",
        message: fail.message ?? "Access denied",
        behaviour: "failAlways",
      };
    }
    return undefined;
  }

  /** Notes a call that was let through: a catalyst warms the principal up. */
  observe(principalId: string, call: CallFacts): void {
    const s = this.states.get(principalId);
    const warm = s?.config.warmUp;
    if (!s || !warm) return;
    if (!(warm.catalysts ?? DEFAULT_CATALYSTS).some((p) => matchPattern(p, call.method, call.path))) return;
    s.lastCatalystAt = call.now;
    const from = call.now + (warm.propagationDelayMs ?? 0);
    const until = from + warm.warmForMs;
    const isWarm = s.grantedFrom !== undefined && s.grantedUntil !== undefined &&
      call.now >= s.grantedFrom && call.now < s.grantedUntil;
    // A catalyst while warm extends the grant; otherwise a new grant starts after the delay.
    if (isWarm) s.grantedUntil = Math.max(s.grantedUntil!, until);
    else {
      s.grantedFrom = from;
      s.grantedUntil = until;
    }
  }

  /** The warm-up gate on access that comes from a sharing link; undefined = let through. */
  gate(principalId: string, now: number): Refusal | undefined {
    const s = this.states.get(principalId);
    const warm = s?.config.warmUp;
    if (!s || !warm) return undefined;
    if (this.warmState(principalId, now).warm) return undefined;
    return {
      status: warm.failStatus ?? 401,
      code: warm.failCode ?? "accessDenied",
      message: "The caller does not have permission to perform the action.",
      behaviour: "warmUp",
    };
  }

  warmState(principalId: string, now: number): WarmState {
    const s = this.states.get(principalId);
    if (!s?.config.warmUp) return { warm: true };
    const out: WarmState = { warm: false };
    if (s.grantedFrom !== undefined && s.grantedUntil !== undefined) {
      out.grantedFrom = s.grantedFrom;
      out.grantedUntil = s.grantedUntil;
      out.warm = now >= s.grantedFrom && now < s.grantedUntil;
    }
    if (s.lastCatalystAt !== undefined) out.lastCatalystAt = s.lastCatalystAt;
    return out;
  }
}

function freshState(config: PrincipalBehaviours): State {
  return { config, calls: 0, windowCount: 0 };
}

function keepWarm(prev: State | undefined): Partial<State> {
  if (!prev) return {};
  const out: Partial<State> = {};
  if (prev.grantedFrom !== undefined) out.grantedFrom = prev.grantedFrom;
  if (prev.grantedUntil !== undefined) out.grantedUntil = prev.grantedUntil;
  if (prev.lastCatalystAt !== undefined) out.lastCatalystAt = prev.lastCatalystAt;
  return out;
}

function failAlwaysOf(config: PrincipalBehaviours): FailAlwaysBehaviour | undefined {
  const f = config.failAlways;
  if (!f) return undefined;
  return Array.isArray(f) ? { paths: f } : f;
}

function tokenRefused(b: TokenBoundBehaviour, call: CallFacts): boolean {
  if (b.tokens?.length) {
    const hash = tokenHash(call.token);
    if (b.tokens.some((t) => t === call.token || t === hash)) return true;
  }
  if (b.issuedBefore !== undefined) {
    // A token without iat cannot prove it is new enough.
    if (call.issuedAt === undefined || call.issuedAt < Math.floor(b.issuedBefore / 1000)) return true;
  }
  return false;
}

function tooMany(seconds: number): Refusal {
  return {
    status: 429,
    code: "TooManyRequests",
    message: "Too many requests. Please retry after the time given in the Retry-After header.",
    headers: { "retry-after": String(seconds) },
    behaviour: "throttle",
  };
}

function applies(patterns: string[] | undefined, call: CallFacts): boolean {
  return !patterns || patterns.length === 0 || patterns.some((p) => matchPattern(p, call.method, call.path));
}

const VERSION = /^\/?(v1\.0|beta)(?=\/|$)/i;

/**
 * Whether `pattern` ("GET /groups/{id}/drive", "/shares/*\/driveItem", "/drives/**")
 * matches a call. The path's version prefix and query are ignored, as is case.
 */
export function matchPattern(pattern: string, method: string, path: string): boolean {
  let p = pattern.trim();
  const m = /^([A-Za-z]+)\s+(.*)$/.exec(p);
  if (m) {
    if (m[1]!.toUpperCase() !== method.toUpperCase()) return false;
    p = m[2]!;
  }
  const want = segments(p.replace(VERSION, ""));
  const have = segments(path.split("?")[0]!.replace(VERSION, ""));
  return matchSegments(want, 0, have, 0);
}

function segments(path: string): string[] {
  return path.split("/").filter((s) => s !== "");
}

function matchSegments(want: string[], i: number, have: string[], j: number): boolean {
  if (i === want.length) return j === have.length;
  const w = want[i]!;
  if (w === "**") {
    for (let k = j; k <= have.length; k++) if (matchSegments(want, i + 1, have, k)) return true;
    return false;
  }
  if (j === have.length) return false;
  const h = have[j]!;
  const one = w === "*" || /^\{[^}]*\}$/.test(w) || w.toLowerCase() === safeDecode(h).toLowerCase() || w.toLowerCase() === h.toLowerCase();
  return one && matchSegments(want, i + 1, have, j + 1);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
