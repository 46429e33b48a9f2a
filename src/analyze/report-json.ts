// `graphtap analyze --json`: the document interface.md specifies (exchanges, flips,
// catalysts with their named fields) plus graphtap's extras. Fields are never renamed.
import type { AnalysisDoc } from "./analysis.js";

export function renderJson(doc: AnalysisDoc): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
