// analyze: flips, explanations, catalyst ranking and the three reports.
export * from "./analysis.js";
export * from "./catalysts.js";
export * from "./flips.js";
export * from "./inputs.js";
export { renderHtml, type HtmlOptions } from "./report-html.js";
export { renderJson } from "./report-json.js";
export { renderText, type TextOptions } from "./report-text.js";
