// Loopback HTTPS calls to the sim, trusting only its own CA.
import { request, Agent } from "node:https";
import { gunzipSync } from "node:zlib";
import type { Sim } from "../../src/sim/index.js";

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Decoded (gunzipped) body. */
  raw: Buffer;
  /** Bytes as they came over the wire. */
  wire: Buffer;
  text: string;
  json: any;
}

export function call(
  sim: Sim,
  method: string,
  path: string,
  opts: { token?: string; headers?: Record<string, string>; body?: unknown; agent?: Agent } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers["authorization"] = `Bearer ${opts.token}`;
  let payload: Buffer | undefined;
  if (opts.body !== undefined) {
    payload = Buffer.from(typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body));
    headers["content-type"] ??= "application/json";
  }
  return new Promise((resolve, reject) => {
    const req = request(
      `${sim.url}${path}`,
      { method, headers, ca: sim.caPem, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const wire = Buffer.concat(chunks);
          const raw = res.headers["content-encoding"] === "gzip" ? gunzipSync(wire) : wire;
          const text = raw.toString("utf8");
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, wire, text, json });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

export const get = (sim: Sim, path: string, token?: string, headers?: Record<string, string>) =>
  call(sim, "GET", path, { ...(token !== undefined ? { token } : {}), ...(headers ? { headers } : {}) });
