// The Graph-specific facts of one exchange, pulled from headers and the error body:
// what analyze prints and what Microsoft support asks for.
import { header, type Exchange } from "../exchange/types.js";
import { parseAgsDiagnostic, type AgsDiagnostic } from "./diagnostics.js";
import { claimsChallenge, parseGraphError, parseWwwAuthenticate } from "./errors.js";

export interface GraphFields {
  requestId?: string;
  clientRequestId?: string;
  errorCode?: string;
  errorMessage?: string;
  innerErrorCode?: string;
  diagnostic?: AgsDiagnostic;
  /** innerError.date of the error body (when Graph says it failed). */
  errorDate?: string;
  /** The `error` parameter of a WWW-Authenticate challenge, e.g. insufficient_claims. */
  authError?: string;
  /** Decoded claims JSON of a CAE / Conditional Access challenge. */
  claimsChallenge?: string;
}

export function graphFieldsOf(ex: Exchange): GraphFields {
  const out: GraphFields = {};
  const err = parseGraphError(ex.responseBody?.bytes);
  const requestId = header(ex.responseHeaders, "request-id") ?? err?.requestId;
  if (requestId) out.requestId = requestId;
  const clientRequestId =
    header(ex.responseHeaders, "client-request-id") ??
    header(ex.requestHeaders, "client-request-id") ??
    err?.clientRequestId;
  if (clientRequestId) out.clientRequestId = clientRequestId;
  if (err) {
    if (err.code) out.errorCode = err.code;
    if (err.message) out.errorMessage = err.message;
    if (err.innerCode) out.innerErrorCode = err.innerCode;
    if (err.date) out.errorDate = err.date;
  }
  const diagnostic = parseAgsDiagnostic(header(ex.responseHeaders, "x-ms-ags-diagnostic"));
  if (diagnostic) out.diagnostic = diagnostic;
  const authenticate = header(ex.responseHeaders, "www-authenticate");
  if (authenticate) {
    const authError = parseWwwAuthenticate(authenticate).find((c) => c.params["error"])?.params["error"];
    if (authError) out.authError = authError;
    const claims = claimsChallenge(authenticate);
    if (claims) out.claimsChallenge = claims;
  }
  return out;
}
