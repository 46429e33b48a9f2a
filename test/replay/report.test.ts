// The one-line conclusion under the replay table, for the shapes a replay can take.
import { describe, expect, it } from "vitest";
import type { StepResult } from "../../src/replay/compare.js";
import { conclusion, type ReplayReport } from "../../src/replay/report.js";

function step(n: number, recorded: number | null, replayed: number | null, extra: Partial<StepResult> = {}): StepResult {
  return {
    source: `src${n}`, method: "GET", url: `https://graph.microsoft.com/v1.0/x${n}`, recorded, replayed, diverged: recorded !== replayed,
    step: n, template: `GET /v1.0/x${n}`, identity: "alice", tokenSource: null, recordedError: null, replayedError: null, error: null,
    attempts: 1, throttled: 0, waitedMs: 0, tokenRefreshed: false, replayId: `r${n}`, sentTo: "", durationMs: 1, ...extra,
  };
}

function report(steps: StepResult[]): ReplayReport {
  return { steps, diverged: steps.filter((s) => s.diverged).length, skipped: [], capture: null, session: null, selection: "", stopped: null, interrupted: false, dryRun: false };
}

describe("replay conclusion", () => {
  it("nothing diverged", () => {
    expect(conclusion(report([step(1, 200, 200), step(2, 403, 403)]))).toBe("no divergence: all 2 steps answered as recorded");
  });

  it("access gained or lost wins over an earlier, lesser difference", () => {
    expect(conclusion(report([step(1, 200, 404), step(2, 200, 200), step(3, 401, 200)]))).toBe(
      "recorded refused, replay allowed: step 3 GET /v1.0/x3 401 → 200 (2 of 3 steps diverged)",
    );
    expect(conclusion(report([step(1, 200, 403)]))).toBe("recorded allowed, replay refused: step 1 GET /v1.0/x1 200 → 403 (1 of 1 step diverged)");
    expect(conclusion(report([step(1, 200, 404)]))).toBe("answers differ: step 1 GET /v1.0/x1 200 → 404 (1 of 1 step diverged)");
    expect(conclusion(report([step(1, 200, null, { error: "ECONNRESET" })]))).toBe("replay got no answer (ECONNRESET): step 1 GET /v1.0/x1 200 → — (1 of 1 step diverged)");
  });

  it("names the $batch part that diverged when the envelope did not", () => {
    const batch = step(1, 200, 200, {
      method: "POST", template: "POST /v1.0/$batch", diverged: true,
      parts: [
        { id: "1", method: "GET", url: "https://graph.microsoft.com/v1.0/me", recorded: 200, replayed: 200, diverged: false },
        { id: "2", method: "GET", url: "https://graph.microsoft.com/v1.0/shares/u!x/driveItem", recorded: 401, replayed: 200, diverged: true },
      ],
    });
    expect(conclusion(report([batch]))).toBe("recorded refused, replay allowed: step 1 POST /v1.0/$batch part 2: GET /v1.0/shares/u!x/driveItem 401 → 200 (1 of 1 step diverged)");
  });
});
