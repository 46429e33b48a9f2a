// graphtap ca: create (or renew) the CA and say how to trust it.
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { UserError } from "../errors.js";
import { ensureCa, resolveHome } from "../tls/home.js";
import { trustSystem, untrustSystem } from "../tls/system-trust.js";
import { parseArgs } from "./args.js";

const Args = z.object({
  home: z.string().optional(),
  pem: z.boolean().default(false),
  permit: z.array(z.string().min(1)).default([]),
  renew: z.boolean().default(false),
  trust: z.boolean().default(false),
  untrust: z.boolean().default(false),
});

export function trustInstructions(certPath: string): string {
  return [
    "",
    "Trust it in the client you point at graphtap:",
    `  Node.js      NODE_EXTRA_CA_CERTS=${certPath}  (and undici's EnvHttpProxyAgent for HTTPS_PROXY)`,
    `  Python       REQUESTS_CA_BUNDLE=${certPath}   (requests; replaces the bundle for that process)`,
    `  curl         curl --cacert ${certPath} --proxy http://127.0.0.1:8080 …`,
    `  .NET         Linux: SSL_CERT_FILE=${certPath}; Windows: Import-Certificate -FilePath ca.pem -CertStoreLocation Cert:\\CurrentUser\\Root`,
    `  Debian/Ubuntu system store:`,
    `               sudo cp ${certPath} /usr/local/share/ca-certificates/graphtap.crt && sudo update-ca-certificates`,
    `  Java         keytool -importcert -noprompt -alias graphtap -file ${certPath} -keystore graphtap.jks -storepass changeit`,
    "",
    "The CA can only vouch for the hosts it permits (X.509 nameConstraints), so its key",
    "cannot be used to impersonate any other site.",
  ].join("\n");
}

const command: CommandModule = {
  command: "ca",
  describe: "Create the interception CA if missing; print the path of ca.pem and how to trust it",
  builder: (y: Argv) =>
    y
      .option("home", { type: "string", describe: "graphtap home (default $GRAPHTAP_HOME or ~/.graphtap)" })
      .option("pem", { type: "boolean", describe: "print the CA certificate (PEM) instead" })
      .option("permit", {
        type: "string",
        array: true,
        describe: "extra host the CA may vouch for, e.g. '*.sharepoint.com' or localhost (at creation)",
      })
      .option("renew", { type: "boolean", describe: "replace the CA with a new one (clients must trust it again)" })
      .option("trust", { type: "boolean", describe: "add the CA to the Debian/Ubuntu system store (root)" })
      .option("untrust", { type: "boolean", describe: "remove the CA from the Debian/Ubuntu system store (root)" }),
  handler: (argv) => {
    const args = parseArgs(Args, argv);
    if (args.trust && args.untrust) throw new UserError("--trust and --untrust cannot be used together");
    const home = resolveHome(args.home);
    if (args.untrust) {
      const r = untrustSystem();
      process.stdout.write(
        `${r.changed ? `removed ${r.file}` : `${r.file} was not there`}; ran update-ca-certificates --fresh: ${r.toolOutput}\n`,
      );
      return;
    }
    const ca = ensureCa(home, { permit: args.permit, renew: args.renew });
    if (args.pem) {
      process.stdout.write(ca.authority.certPem);
      return;
    }
    if (args.trust) {
      const r = trustSystem(ca.certPath);
      process.stdout.write(
        `${ca.certPath}\n${r.changed ? `copied it to ${r.file}` : `${r.file} already holds it`}; ran update-ca-certificates: ${r.toolOutput}\n` +
          "Tools that read the system store (curl, wget, git, OpenSSL, .NET on Linux) now trust graphtap; " +
          "Node still needs NODE_EXTRA_CA_CERTS, Python requests REQUESTS_CA_BUNDLE. Undo: sudo graphtap ca --untrust\n",
      );
      return;
    }
    const lines = [ca.certPath];
    lines.push(`${ca.created ? "created" : "existing"} CA; permitted names: ${ca.authority.permitted.join(", ")}`);
    if (!ca.created && args.permit.some((p) => !ca.authority.permitted.includes(p.replace(/^\*\./, "")))) {
      lines.push("note: --permit applies when a CA is created; add --renew to make a new CA with these names");
    }
    lines.push(trustInstructions(ca.certPath));
    process.stdout.write(`${lines.join("\n")}\n`);
  },
};

export default command;
