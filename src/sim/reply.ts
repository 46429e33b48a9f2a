// Graph-shaped replies of the sim: the headers every response carries and the
// OData error body, shared by top-level calls and $batch parts.
import type { Refusal } from "./behaviours.js";
import type { Json } from "./entities.js";

const WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';
const JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/** A request as the router sees it: a top-level request or one $batch part. */
export interface Call {
  method: string;
  /** "v1.0" or "beta". */
  version: string;
  /** Path after the version, without query: /shares/u!…/driveItem */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
  requestId: string;
  clientRequestId: string;
  /** Sim clock when the call arrived (error bodies carry it as innerError.date). */
  time: number;
  /** The call's number in the sim's request log, once logged. */
  seq?: number;
  batch?: { envelopeSeq: number; partId: string };
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: Buffer;
  /** JSON body (serialised on the way out). */
  json?: unknown;
  errorCode?: string;
  behaviour?: Refusal["behaviour"];
}

/** Adds what every Graph response carries and serialises the body. */
export function finish(call: Call, reply: Reply, now: number): { headers: Record<string, string>; body: Buffer } {
  const headers: Record<string, string> = {
    "cache-control": "no-cache",
    "strict-transport-security": "max-age=31536000",
    "request-id": call.requestId,
    "client-request-id": call.clientRequestId,
    "x-ms-ags-diagnostic": agsDiagnostic(),
    "x-ms-resource-unit": "1",
    date: new Date(now).toUTCString(),
    ...reply.headers,
  };
  let body = reply.body ?? Buffer.alloc(0);
  if (reply.json !== undefined) {
    body = Buffer.from(JSON.stringify(reply.json), "utf8");
    headers["content-type"] ??= JSON_TYPE;
    if (reply.status < 400) headers["odata-version"] = "4.0";
  }
  if (reply.status === 401) headers["www-authenticate"] ??= WWW_AUTHENTICATE;
  return { headers, body };
}

function agsDiagnostic(): string {
  return JSON.stringify({
    ServerInfo: { DataCenter: "West Europe", Slice: "E", Ring: "5", ScaleUnit: "003", RoleInstance: "AM2PEPF0001A2B3" },
  });
}

/** 200 with a JSON body. */
export function ok(json: Json): Reply {
  return { status: 200, headers: {}, json };
}

export function graphError(call: Call, status: number, code: string, message: string, behaviour?: Refusal["behaviour"]): Reply {
  const reply: Reply = {
    status,
    headers: { "content-type": "application/json" },
    json: {
      error: {
        code,
        message,
        innerError: {
          date: new Date(call.time).toISOString().replace(/\.\d{3}Z$/, ""),
          "request-id": call.requestId,
          "client-request-id": call.clientRequestId,
        },
      },
    },
    errorCode: code,
  };
  if (behaviour) reply.behaviour = behaviour;
  return reply;
}

export function refuse(call: Call, r: Refusal): Reply {
  const reply = graphError(call, r.status, r.code, r.message, r.behaviour);
  Object.assign(reply.headers, r.headers);
  return reply;
}

export function invalidToken(call: Call, message: string): Reply {
  return graphError(call, 401, "InvalidAuthenticationToken", message);
}

export function accessDenied(call: Call): Reply {
  return graphError(call, 403, "accessDenied", "Access denied");
}

export function insufficient(call: Call): Reply {
  return graphError(call, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
}

export function itemNotFound(call: Call, message = "The resource could not be found."): Reply {
  return graphError(call, 404, "itemNotFound", message);
}

export function notFoundDirectory(call: Call, id: string): Reply {
  return graphError(
    call,
    404,
    "Request_ResourceNotFound",
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  );
}

export function unknownSegment(call: Call, segment: string): Reply {
  return graphError(call, 404, "Request_ResourceNotFound", `Resource not found for the segment '${segment}'.`);
}

export function methodNotAllowed(call: Call, allow: string[]): Reply {
  const reply = graphError(call, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
  reply.headers["allow"] = allow.join(", ");
  return reply;
}

