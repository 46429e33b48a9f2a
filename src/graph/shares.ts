// Share ids: /shares/{shareId} takes either a sharing token (`s!…`, opaque) or a sharing
// URL encoded as `u!` + unpadded base64url of the URL (learn.microsoft.com/graph/api/shares-get).

/** Graph's rule: base64 of the UTF-8 URL, made base64url (`/`→`_`, `+`→`-`, no `=`), prefixed `u!`. */
export function encodeShareId(sharingUrl: string): string {
  return `u!${Buffer.from(sharingUrl, "utf8").toString("base64url")}`;
}

const B64 = /^[A-Za-z0-9_\-+/]+={0,2}$/;

/**
 * The sharing URL inside a `u!` id, or undefined for `s!` tokens (opaque) and for
 * anything that does not decode to an absolute http(s) URL. Padding and the standard
 * base64 alphabet are tolerated because hand-made ids use them.
 */
export function decodeShareId(id: string): string | undefined {
  let rest: string;
  if (id.startsWith("u!")) rest = id.slice(2);
  else if (/^u%21/i.test(id)) rest = id.slice(4);
  else return undefined;
  if (!B64.test(rest)) return undefined;
  let url: string;
  try {
    // fatal: a share id whose bytes are not UTF-8 is not one we can re-encode faithfully.
    url = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(rest, "base64"));
  } catch {
    return undefined;
  }
  return /^https?:\/\/[^\s/]+/i.test(url) && !/[\u0000-\u001f]/.test(url) ? url : undefined;
}

/** A syntactically valid share id: `u!` + base64url, or `s!` + a sharing token. */
export function isShareId(s: string): boolean {
  return /^[us]![A-Za-z0-9_\-+/]+={0,2}$/.test(s);
}
