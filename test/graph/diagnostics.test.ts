import { describe, expect, it } from "vitest";
import { parseAgsDiagnostic } from "../../src/graph/diagnostics.js";

describe("parseAgsDiagnostic", () => {
  it("reads the ServerInfo fields", () => {
    const raw = '{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5","ScaleUnit":"001","RoleInstance":"AM4PEPF00012345"}}';
    expect(parseAgsDiagnostic(raw)).toEqual({
      dataCenter: "West Europe",
      slice: "E",
      ring: "5",
      scaleUnit: "001",
      roleInstance: "AM4PEPF00012345",
      raw,
    });
  });

  it("tolerates other casing, numbers and missing fields", () => {
    const raw = '{"serverInfo":{"dataCenter":"North Europe","ring":4}}';
    expect(parseAgsDiagnostic(raw)).toEqual({ dataCenter: "North Europe", ring: "4", raw });
  });

  it("keeps only raw for garbage", () => {
    expect(parseAgsDiagnostic("not json {")).toEqual({ raw: "not json {" });
    expect(parseAgsDiagnostic("[1,2]")).toEqual({ raw: "[1,2]" });
    expect(parseAgsDiagnostic('{"ServerInfo":"x"}')).toEqual({ raw: '{"ServerInfo":"x"}' });
  });

  it("is undefined without a value", () => {
    expect(parseAgsDiagnostic(undefined)).toBeUndefined();
    expect(parseAgsDiagnostic("  ")).toBeUndefined();
  });
});
