// X.509 for graphtap: a certificate authority that can only vouch for the hosts it
// intercepts (critical nameConstraints), and leaf certificates minted from it.
// node-forge builds the certificates (it can write any extension as raw ASN.1);
// Node's crypto makes the keys and signs, which is ~25x faster than forge's JS RSA.
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import forge from "node-forge";

const { asn1, pki } = forge;
// Present in node-forge at runtime, missing from @types/node-forge.
const forgePki = pki as typeof pki & { getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1 };
const forgeUtil = forge.util as typeof forge.util & {
  bytesFromIP(ip: string): string | null;
  bytesToIP(bytes: string): string | null;
};

export interface Authority {
  certPem: string;
  keyPem: string;
  /** DNS names (and IP addresses) the CA may vouch for; subdomains of a DNS name included. */
  permitted: string[];
  /** Parsed once, reused for every leaf. */
  readonly cert: forge.pki.Certificate;
  readonly key: KeyObject;
}

export interface LeafCertificate {
  certPem: string;
  keyPem: string;
}

const NAME_CONSTRAINTS_OID = "2.5.29.30";
const DAY_MS = 86_400_000;

/** Creates a new CA whose certificates are valid only for `permitted` names. */
export function createAuthority(opts: { commonName: string; permitted: string[]; validDays?: number }): Authority {
  const permitted = normalizePermitted(opts.permitted);
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString());
  cert.serialNumber = serialNumber();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - DAY_MS);
  cert.validity.notAfter = new Date(now + (opts.validDays ?? 3650) * DAY_MS);
  const subject = [
    { name: "commonName", value: opts.commonName },
    { name: "organizationName", value: "graphtap" },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
    { id: NAME_CONSTRAINTS_OID, critical: true, value: nameConstraints(permitted) },
  ]);
  signWith(cert, privateKey);
  return authorityFrom(pki.certificateToPem(cert), keyPem);
}

/** An authority from PEM files written earlier. */
export function loadAuthority(certPem: string, keyPem: string): Authority {
  return authorityFrom(certPem, keyPem);
}

function authorityFrom(certPem: string, keyPem: string): Authority {
  const cert = pki.certificateFromPem(certPem);
  return { certPem, keyPem, cert, key: createPrivateKey(keyPem), permitted: permittedNamesOf(cert) };
}

/** Whether the CA may vouch for `host` (exact name or a subdomain of a permitted name). */
export function permits(authority: Pick<Authority, "permitted">, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return authority.permitted.some((p) => h === p || (!isIP(p) && h.endsWith(`.${p}`)));
}

/**
 * Leaves share one key pair per process: RSA generation costs ~100 ms, signing ~1 ms,
 * so a new host costs a signature, not a key.
 */
export class LeafFactory {
  private readonly leafKeyPem: string;
  private readonly leafPublic: forge.pki.PublicKey;
  private readonly issuerKeyId: string;

  constructor(private readonly authority: Authority) {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.leafKeyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    this.leafPublic = pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString());
    const ski = authority.cert.getExtension("subjectKeyIdentifier") as { subjectKeyIdentifier?: string } | null;
    // forge reads the SKI back as hex but writes a keyIdentifier from raw bytes.
    this.issuerKeyId = ski?.subjectKeyIdentifier ? forge.util.hexToBytes(ski.subjectKeyIdentifier) : "";
  }

  /** A server certificate for `names` (DNS names or IP addresses), signed by the CA. */
  issue(names: string[], validDays = 365): LeafCertificate {
    const first = names[0];
    if (!first) throw new Error("a leaf certificate needs at least one name");
    const cert = pki.createCertificate();
    cert.publicKey = this.leafPublic;
    cert.serialNumber = serialNumber();
    const now = Date.now();
    cert.validity.notBefore = new Date(now - DAY_MS);
    cert.validity.notAfter = new Date(now + validDays * DAY_MS);
    cert.setSubject([{ name: "commonName", value: first.slice(0, 64) }]);
    cert.setIssuer(this.authority.cert.subject.attributes);
    const altNames = names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
    cert.setExtensions([
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames },
      ...(this.issuerKeyId
        ? [{ name: "authorityKeyIdentifier", keyIdentifier: this.issuerKeyId }]
        : []),
    ]);
    signWith(cert, this.authority.key);
    return { certPem: pki.certificateToPem(cert), keyPem: this.leafKeyPem };
  }
}

/** Signs forge's to-be-signed bytes with Node's crypto (sha256WithRSAEncryption). */
function signWith(cert: forge.pki.Certificate, key: KeyObject): void {
  const oid = pki.oids["sha256WithRSAEncryption"]!;
  const c = cert as forge.pki.Certificate & { siginfo: { algorithmOid: string }; tbsCertificate: forge.asn1.Asn1 };
  c.siginfo.algorithmOid = oid;
  c.signatureOid = oid;
  const tbs = forgePki.getTBSCertificate(cert);
  const der = Buffer.from(asn1.toDer(tbs).getBytes(), "binary");
  c.tbsCertificate = tbs;
  c.signature = sign("sha256", der, key).toString("binary");
}

/** 16 random bytes, top bit clear so the DER INTEGER stays positive. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}

function normalizePermitted(names: string[]): string[] {
  const out = new Set<string>();
  for (const raw of names) {
    // "*.sharepoint.com" permits the domain and every subdomain, which is what
    // a dNSName constraint of "sharepoint.com" means (RFC 5280 4.2.1.10).
    const n = raw.trim().toLowerCase().replace(/^\*\./, "").replace(/\.$/, "");
    if (n) out.add(n);
  }
  return [...out];
}

/**
 * NameConstraints ::= SEQUENCE { permittedSubtrees [0], excludedSubtrees [1] }.
 * dNSName entries are permitted. An RFC 5280 verifier leaves a name type without
 * any constraint unconstrained, so unless IP addresses were asked for, every IPv4
 * and IPv6 address is excluded: the CA must not vouch for an IP either.
 */
function nameConstraints(permitted: string[]): forge.asn1.Asn1 {
  const C = asn1.Class;
  const T = asn1.Type;
  const subtree = (tag: number, value: string) =>
    asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [asn1.create(C.CONTEXT_SPECIFIC, tag, false, value)]);
  const ipBytes = (ip: string) => Buffer.from(forgeUtil.bytesFromIP(ip) ?? "", "binary");
  const dns = permitted.filter((p) => !isIP(p)).map((p) => subtree(2, p));
  const ips = permitted
    .filter((p) => isIP(p))
    .map((p) => {
      const addr = ipBytes(p);
      return subtree(7, Buffer.concat([addr, Buffer.alloc(addr.length, 0xff)]).toString("binary"));
    });
  const parts = [asn1.create(C.CONTEXT_SPECIFIC, 0, true, [...dns, ...ips])];
  if (ips.length === 0) {
    parts.push(
      asn1.create(C.CONTEXT_SPECIFIC, 1, true, [
        subtree(7, Buffer.alloc(8, 0).toString("binary")),
        subtree(7, Buffer.alloc(32, 0).toString("binary")),
      ]),
    );
  }
  return asn1.create(C.UNIVERSAL, T.SEQUENCE, true, parts);
}

/** The permitted dNSName/iPAddress entries of a certificate's nameConstraints, [] if none. */
function permittedNamesOf(cert: forge.pki.Certificate): string[] {
  const ext = cert.getExtension({ id: NAME_CONSTRAINTS_OID } as never) as { value?: string } | null;
  if (!ext?.value) return [];
  const root = asn1.fromDer(ext.value);
  const permittedTree = (root.value as forge.asn1.Asn1[]).find(
    (node) => node.tagClass === asn1.Class.CONTEXT_SPECIFIC && node.type === 0,
  );
  if (!permittedTree) return [];
  const out: string[] = [];
  for (const sub of permittedTree.value as forge.asn1.Asn1[]) {
    const name = (sub.value as forge.asn1.Asn1[])[0];
    if (!name || typeof name.value !== "string") continue;
    if (name.type === 2) out.push(name.value);
    if (name.type === 7) {
      const half = name.value.length / 2;
      const ip = forgeUtil.bytesToIP(name.value.slice(0, half));
      if (ip) out.push(ip);
    }
  }
  return out;
}
