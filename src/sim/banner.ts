// What `graphtap sim` prints: where the sim listens, which CA to trust, who is in the
// tenant (with a token each) and how to put graphtap in front of it.
import type { Sim } from "./server.js";

export function simBanner(sim: Sim, caPath: string): string {
  const s = sim.scenario;
  const lines = [
    `sim listening on ${sim.url}`,
    `  scenario ${s.name}: tenant ${s.tenant.domain} (${s.tenant.id})`,
    `  CA certificate: ${caPath}`,
    "",
    "principals (tokens are fresh now and expire like Entra's):",
  ];
  for (const p of s.principals) {
    const warm = sim.behaviours(p.name)?.warmUp;
    const note = warm
      ? `  [guest warm-up: refused until a call to ${(warm.catalysts ?? ["/groups/{id}/drive"]).join(" or ")}, then warm for ${Math.round(warm.warmForMs / 1000)} s]`
      : "";
    lines.push(`  ${p.name} (${p.kind}) ${p.upn ?? p.appName} id ${p.id}${note}`);
    lines.push(`    token: ${sim.token(p.name)}`);
  }
  const link = s.links[0];
  const group = s.groups[0];
  lines.push("", "resources:");
  if (group) lines.push(`  group ${group.displayName}: /v1.0/groups/${group.id}/drive`);
  if (link) lines.push(`  shared item: ${link.url}`, `    /v1.0/shares/${link.shareId}/driveItem`);
  lines.push(
    "",
    "record through graphtap:",
    `  graphtap proxy --upstream graph.microsoft.com=${sim.url} --upstream-ca ${caPath}`,
    `  or call it directly: curl --cacert ${caPath} -H "Authorization: Bearer <token>" ${sim.url}/v1.0/me`,
    "  Ctrl-C stops it.",
    "",
  );
  return lines.join("\n");
}
