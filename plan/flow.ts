/**
 * The promotion flow as a graph. The functions live in config/flow.ts, the bottom layer, so that
 * validation can use them without importing plan/ (which builds on config/); this is their address for
 * everything above config/.
 */
export type { Edge } from "../config/flow";
export { isEdge, allowedTargets, sourcesOf, findCycle } from "../config/flow";
