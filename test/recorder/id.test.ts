import { describe, expect, it } from "vitest";
import { idTime, newId } from "../../src/exchange/id.js";

describe("newId", () => {
  it("is 26 Crockford base32 characters carrying the creation time", () => {
    const t = Date.UTC(2026, 1, 10, 9, 0, 0, 123);
    const id = newId(t);
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(idTime(id)).toBe(t);
  });

  it("stays unique and strictly increasing for many ids in the same millisecond", () => {
    const t = Date.now() + 60_000;
    const ids = Array.from({ length: 50_000 }, () => newId(t));
    expect(new Set(ids).size).toBe(ids.length);
    const outOfOrder = ids.findIndex((id, i) => i > 0 && !(id > ids[i - 1]!));
    expect(outOfOrder).toBe(-1);
    expect(idTime(ids[ids.length - 1]!)).toBe(t);
  });

  it("sorts by time across milliseconds, even if the clock steps back", () => {
    const a = newId(Date.now() + 120_000);
    const b = newId(Date.now() + 120_001);
    const c = newId(Date.now()); // the clock went back: still after b
    expect(a < b && b < c).toBe(true);
  });

  it("idTime rejects what newId did not make", () => {
    expect(idTime("short")).toBeUndefined();
    expect(idTime("!".repeat(26))).toBeUndefined();
  });
});
