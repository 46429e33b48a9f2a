// GRAPHTAP_HOME: where the CA lives (ca.pem, ca-key.pem with mode 0600) and nothing
// else secret.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { UserError } from "../errors.js";
import { DEFAULT_GRAPH_HOSTS } from "../graph/hosts.js";
import { createAuthority, loadAuthority, type Authority } from "./authority.js";

export interface CaFiles {
  home: string;
  certPath: string;
  keyPath: string;
}

/** --home beats GRAPHTAP_HOME beats ~/.graphtap. */
export function resolveHome(flag?: string): string {
  return resolve(flag ?? process.env["GRAPHTAP_HOME"] ?? join(homedir(), ".graphtap"));
}

export function caFiles(home: string): CaFiles {
  return { home, certPath: join(home, "ca.pem"), keyPath: join(home, "ca-key.pem") };
}

export interface EnsureCaResult extends CaFiles {
  authority: Authority;
  created: boolean;
}

/**
 * Loads the CA from `home`, creating it when missing (or when `renew` is set) with
 * the Graph hosts of every cloud plus `permit` as its only permitted names.
 */
export function ensureCa(home: string, opts: { permit?: readonly string[]; renew?: boolean } = {}): EnsureCaResult {
  const files = caFiles(home);
  const haveBoth = existsSync(files.certPath) && existsSync(files.keyPath);
  if (haveBoth && !opts.renew) {
    try {
      const authority = loadAuthority(readFileSync(files.certPath, "utf8"), readFileSync(files.keyPath, "utf8"));
      return { ...files, authority, created: false };
    } catch (err) {
      throw new UserError(
        `cannot read the CA in ${home}: ${(err as Error).message.split("\n")[0]} (make a new one: graphtap ca --renew)`,
      );
    }
  }
  const authority = createAuthority({
    commonName: "graphtap local interception CA",
    permitted: [...DEFAULT_GRAPH_HOSTS, ...(opts.permit ?? [])],
  });
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    // The key is written 0600 from the first byte, then chmod in case it existed.
    writeFileSync(files.keyPath, authority.keyPem, { mode: 0o600 });
    chmodSync(files.keyPath, 0o600);
    writeFileSync(files.certPath, authority.certPem, { mode: 0o644 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UserError(
      `cannot create the CA in ${home}: ${e.code ?? e.message} (choose a writable folder with --home or GRAPHTAP_HOME)`,
    );
  }
  return { ...files, authority, created: true };
}
