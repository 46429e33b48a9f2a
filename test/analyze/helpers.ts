// In-memory calls for the algorithm tests: a tiny script of (seconds, who, method, path, status).
import type { Call } from "../../src/analyze/inputs.js";

export const G = "https://graph.microsoft.com";
export const SHARE = "/v1.0/shares/u!aHR0cHM6Ly9jb250b3NvLnNoYXJlcG9pbnQuY29tL3MvYQ/driveItem";
export const GROUP_DRIVE = "/v1.0/groups/0b8a2e8c-1d5f-4c8e-9f3a-7e6d5c4b3a21/drive";
export const ME = "/v1.0/me";

let n = 0;
const T0 = Date.UTC(2026, 1, 10, 9, 0, 0);

export interface Step {
  /** Seconds from T0. */
  t: number;
  who?: string;
  method?: string;
  path: string;
  status: number | undefined;
  token?: string;
  errorCode?: string;
}

export function call(s: Step): Call {
  n++;
  const status = s.status;
  return {
    id: `ex${String(n).padStart(6, "0")}`,
    source: 0,
    startedAt: T0 + s.t * 1000,
    method: s.method ?? "GET",
    url: `${G}${s.path}`,
    status,
    tokenHash: s.token ?? `tok-${s.who ?? "alice"}`,
    identityKey: s.who ?? "alice",
    requestId: `rid-${n}`,
    clientRequestId: `crid-${n}`,
    errorCode: s.errorCode ?? (status === 401 || status === 403 ? "accessDenied" : status === 404 ? "itemNotFound" : undefined),
    parentId: undefined,
  };
}

export function script(steps: Step[]): Call[] {
  return steps.map(call);
}
