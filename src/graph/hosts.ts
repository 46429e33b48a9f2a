// The Microsoft Graph endpoints of every national cloud: what graphtap intercepts
// unless told otherwise.
export const DEFAULT_GRAPH_HOSTS = [
  "graph.microsoft.com",
  "graph.microsoft.us",
  "dod-graph.microsoft.us",
  "microsoftgraph.chinacloudapi.cn",
] as const;
