import { describe, expect, it } from "vitest";
import { encodeShareId } from "../../src/graph/shares.js";
import { pathOf, resourceKey, templateOf } from "../../src/graph/templates.js";

const G = "https://graph.microsoft.com";
const SHARE = encodeShareId("https://contoso.sharepoint.com/:w:/s/marketing/EbX2y9lPq0tMnV3gJ8k5h7ABcDeFgHiJkLmNoPqRsTuVwX?e=4hTz9k");
const DRIVE = "b!-RIj2DuyvEyV1T4NlOaMHk8XkS_I8MdFlUCq1BlcjgmhRfAj3-Z8RY2VpuvV_tpd";
const ITEM = "01BYE5RZ6QN3ZWBTUFOFD3GSPGOHDJD36K";

describe("templateOf", () => {
  it.each([
    // The two templates the contract names.
    ["GET", `${G}/v1.0/shares/${SHARE}/driveItem`, "GET /v1.0/shares/{shareId}/driveItem"],
    ["GET", `${G}/v1.0/shares/s!AmDvBqdpsTzHgcMDq-bVFKn_pxPy/driveItem?$select=id`, "GET /v1.0/shares/{shareId}/driveItem"],
    ["GET", `${G}/v1.0/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/drive`, "GET /v1.0/groups/{id}/drive"],
    // Encoded segments are decoded before classification.
    ["GET", `${G}/v1.0/shares/${SHARE.replace("!", "%21")}/driveItem`, "GET /v1.0/shares/{shareId}/driveItem"],
    ["GET", `${G}/v1.0/drives/${DRIVE}/items/${ITEM}/children`, "GET /v1.0/drives/{driveId}/items/{itemId}/children"],
    ["GET", `${G}/v1.0/drive/items/ABC123!456`, "GET /v1.0/drive/items/{itemId}"],
    ["GET", `${G}/v1.0/drives/D4648F06C91D9D3D/items/D4648F06C91D9D3D!54927`, "GET /v1.0/drives/{driveId}/items/{itemId}"],
    ["GET", `${G}/v1.0/users/megan@contoso.com/drive`, "GET /v1.0/users/{upn}/drive"],
    ["GET", `${G}/v1.0/users/alice_fabrikam.com%23EXT%23@contoso.onmicrosoft.com/drive`, "GET /v1.0/users/{upn}/drive"],
    ["GET", `${G}/v1.0/sites/contoso.sharepoint.com,2C712604-1370-44E7-A1F5-426573FDA80A,2D2244C3-251A-49EA-93A8-39E1C3A060FE/drives`, "GET /v1.0/sites/{siteId}/drives"],
    ["GET", `${G}/v1.0/sites/contoso.sharepoint.com`, "GET /v1.0/sites/{hostname}"],
    ["GET", `${G}/v1.0/sites/contoso.sharepoint.com:/sites/marketing:/drive`, "GET /v1.0/sites/{hostname}:{path}:/drive"],
    ["GET", `${G}/v1.0/domains/contoso.com`, "GET /v1.0/domains/{domain}"],
    ["GET", `${G}/v1.0/me/drive/root:/Documents/Q1%20report.docx:/content`, "GET /v1.0/me/drive/root:{path}:/content"],
    // The closing colon is optional at the end of the path; both forms are one template.
    ["GET", `${G}/v1.0/me/drive/root:/Documents/Q1%20report.docx`, "GET /v1.0/me/drive/root:{path}:"],
    ["GET", `${G}/v1.0/me/drive/root:/Documents/Q1%20report.docx:`, "GET /v1.0/me/drive/root:{path}:"],
    ["GET", `${G}/v1.0/me/drive/root:%2FDocuments%2Fa.docx:/content`, "GET /v1.0/me/drive/root:{path}:/content"],
    ["GET", `${G}/v1.0/me/drive/items/${ITEM}:/sub/a.txt:/content`, "GET /v1.0/me/drive/items/{itemId}:{path}:/content"],
    ["GET", `${G}/v1.0/me/drive/root/delta(token='MzslMTswOzE3MzI4NjQ0MDAwMDA')`, "GET /v1.0/me/drive/root/delta(token={token})"],
    ["GET", `${G}/v1.0/me/drive/root/delta()`, "GET /v1.0/me/drive/root/delta()"],
    ["GET", `${G}/v1.0/me/drive/root/search(q='O''Brien/budget')`, "GET /v1.0/me/drive/root/search(q={q})"],
    ["GET", `${G}/v1.0/reports/getOffice365ActiveUserDetail(period='D7')`, "GET /v1.0/reports/getOffice365ActiveUserDetail(period={period})"],
    ["GET", `${G}/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')`, "GET /v1.0/servicePrincipals(appId={appId})"],
    ["GET", `${G}/v1.0/users('megan@contoso.com')`, "GET /v1.0/users({upn})"],
    [
      "GET",
      `${G}/v1.0/me/messages/AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7TKBjgx9rVEURBwAiIsqMbYjsT5e-T7KzowPTAAAYbuK-AAA=`,
      "GET /v1.0/me/messages/{id}",
    ],
    ["GET", `${G}/v1.0/planner/tasks/01gzSlKkIUSUl6DF_EilrmQAKDhh`, "GET /v1.0/planner/tasks/{id}"],
    [
      "GET",
      `${G}/v1.0/teams/172b0cce-e65d-44ce-9a49-91d9f2e8493a/channels/19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2/messages/1581010312345`,
      "GET /v1.0/teams/{id}/channels/{id}/messages/{n}",
    ],
    ["GET", `${G}/v1.0/me/onenote/pages/1-e75bd4c3b7f443a59e0e9d2e6c7a8f52!14-816F7725BEF00A5F!1621/content`, "GET /v1.0/me/onenote/pages/{id}/content"],
  ])("%s %s", (method, url, expected) => {
    expect(templateOf(method, url)).toBe(expected);
  });

  it("keeps plain words, OData casts, $ segments and the caller's case", () => {
    expect(templateOf("POST", `${G}/v1.0/$batch`)).toBe("POST /v1.0/$batch");
    expect(templateOf("GET", `${G}/beta/me/memberOf/microsoft.graph.group`)).toBe("GET /beta/me/memberOf/microsoft.graph.group");
    expect(templateOf("GET", `${G}/v1.0/me/photos/48x48/$value`)).toBe("GET /v1.0/me/photos/48x48/$value");
    expect(templateOf("GET", `${G}/v1.0/oauth2PermissionGrants`)).toBe("GET /v1.0/oauth2PermissionGrants");
    expect(templateOf("GET", `${G}/v1.0/identityProtection/riskyUsers`)).toBe("GET /v1.0/identityProtection/riskyUsers");
    expect(templateOf("GET", `${G}/v1.0/reports/getM365AppUserDetail`)).toBe("GET /v1.0/reports/getM365AppUserDetail");
    expect(templateOf("GET", `${G}/v1.0/Me/DriveItem`)).toBe("GET /v1.0/Me/DriveItem");
    expect(templateOf("get", `${G}/v1.0/me`)).toBe("GET /v1.0/me");
  });

  it("drops the query and fragment", () => {
    expect(templateOf("GET", `${G}/v1.0/me/calendarView?startDateTime=2026-02-10T00:00:00Z&endDateTime=x#top`)).toBe("GET /v1.0/me/calendarView");
  });

  it("places relative ($batch part) URLs under the given version", () => {
    expect(templateOf("GET", "/me/drive", "v1.0")).toBe("GET /v1.0/me/drive");
    expect(templateOf("GET", "me/drive/root/children", "v1.0")).toBe("GET /v1.0/me/drive/root/children");
    expect(templateOf("GET", "/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/drive", "/beta/")).toBe("GET /beta/groups/{id}/drive");
    expect(templateOf("GET", "/v1.0/me", "v1.0")).toBe("GET /v1.0/me");
    expect(templateOf("GET", "/me/drive")).toBe("GET /me/drive");
    // An unencoded guest UPN in a batch part: #EXT# is not a fragment.
    expect(templateOf("GET", "/users/alice_fabrikam.com#EXT#@contoso.onmicrosoft.com/drive", "v1.0")).toBe("GET /v1.0/users/{upn}/drive");
  });

  it("gives the same template to two resources of one kind", () => {
    const a = templateOf("GET", `${G}/v1.0/shares/${encodeShareId("https://contoso.sharepoint.com/a.docx")}/driveItem`);
    const b = templateOf("GET", `${G}/v1.0/shares/${encodeShareId("https://fabrikam.sharepoint.com/sites/x/b.xlsx")}/driveItem`);
    expect(a).toBe(b);
  });
});

describe("resourceKey", () => {
  it("matches the contract's example form", () => {
    expect(resourceKey("GET", `${G}/v1.0/shares/${SHARE}/driveItem`)).toBe(`GET https://graph.microsoft.com/v1.0/shares/${SHARE}/driveItem`);
  });

  it("canonicalises scheme, host, port, query order and fragment but not the path", () => {
    expect(resourceKey("get", "HTTPS://Graph.Microsoft.COM:443/v1.0/Me/Drive?$top=5&$select=id,name&%24filter=x#frag")).toBe(
      "GET https://graph.microsoft.com/v1.0/Me/Drive?%24filter=x&$select=id,name&$top=5",
    );
    expect(resourceKey("GET", "http://LOCALHOST:80/x")).toBe("GET http://localhost/x");
    expect(resourceKey("GET", "https://localhost:8443/x")).toBe("GET https://localhost:8443/x");
    expect(resourceKey("GET", "https://graph.microsoft.com")).toBe("GET https://graph.microsoft.com/");
    expect(resourceKey("GET", "https://graph.microsoft.com/v1.0/me?")).toBe("GET https://graph.microsoft.com/v1.0/me");
    expect(resourceKey("GET", "https://graph.microsoft.com/v1.0/users/a%40b.com")).toBe("GET https://graph.microsoft.com/v1.0/users/a%40b.com");
  });

  it("keeps repeated query names in their order", () => {
    expect(resourceKey("GET", `${G}/v1.0/x?b=2&a=z&a=y`)).toBe(`GET ${G}/v1.0/x?a=z&a=y&b=2`);
  });

  it("makes equal keys for reordered queries and distinct keys for distinct resources", () => {
    expect(resourceKey("GET", `${G}/v1.0/me/drive?$select=id&$expand=root`)).toBe(resourceKey("GET", `${G}/v1.0/me/drive?$expand=root&$select=id`));
    expect(resourceKey("GET", `${G}/v1.0/me/drive`)).not.toBe(resourceKey("HEAD", `${G}/v1.0/me/drive`));
    expect(resourceKey("GET", `${G}/v1.0/me/drive`)).not.toBe(resourceKey("GET", `${G}/beta/me/drive`));
  });

  it("resolves a relative URL against a base", () => {
    expect(resourceKey("GET", "/me/drive?b=1&a=2", `${G}/v1.0/`)).toBe(`GET ${G}/v1.0/me/drive?a=2&b=1`);
    expect(resourceKey("GET", "me/drive", `${G}/v1.0`)).toBe(`GET ${G}/v1.0/me/drive`);
    expect(resourceKey("GET", "/me/drive")).toBe("GET /me/drive");
  });
});

describe("pathOf", () => {
  it("returns the path as written", () => {
    expect(pathOf(`${G}/v1.0/me/drive?$top=1#x`)).toBe("/v1.0/me/drive");
  });
});
