// Graph protocol knowledge shared by recorder, analyze, replay and sim.
export * from "./batch.js";
export * from "./diagnostics.js";
export * from "./errors.js";
export * from "./fields.js";
export * from "./hosts.js";
export * from "./identity.js";
export * from "./shares.js";
export * from "./templates.js";
export * from "./token.js";
