/**
 * The lb-agent report: the JSON a backend serves at `GET /.lb/health` so that the
 * proxy sees its load. docs/health.md specifies it for implementers in any language;
 * this module is the one place both sides (agent and poller) take it from.
 */

/** Current version of the report format. */
export const AGENT_REPORT_VERSION = 1;

/** Default path of the report on a backend. */
export const AGENT_PATH = '/.lb/health';

/** Content type of the report. */
export const AGENT_CONTENT_TYPE = 'application/json; charset=utf-8';

/** `ok` serves traffic; `draining` and `down` ask the proxy to send no new requests. */
export type AgentStatus = 'ok' | 'draining' | 'down';

export const AGENT_STATUSES: readonly AgentStatus[] = ['ok', 'draining', 'down'];

/** What the agent reports. Every group is optional except `status` and `timestamp`. */
export interface AgentReport {
  version: number;
  status: AgentStatus;
  /** When the report was made, ms since the Unix epoch. */
  timestamp: number;
  /** Length of the window the CPU, event-loop and request-rate figures cover, in ms. */
  windowMs?: number;
  cpu?: {
    /** Host CPU busy over the window, all cores together, 0..1. */
    utilization?: number;
    /** This process's CPU over the window, as a fraction of the whole host (one busy core of four: 0.25), 0..1. */
    process?: number;
    /** Logical cores of the host. */
    cores?: number;
  };
  memory?: {
    usedBytes?: number;
    totalBytes?: number;
    /** usedBytes / totalBytes, 0..1. */
    utilization?: number;
    /** Resident set size of the process, bytes. */
    rssBytes?: number;
  };
  load?: {
    load1?: number;
    load5?: number;
    load15?: number;
    /** load1 / cores. */
    perCore?: number;
  };
  eventLoop?: {
    /** Mean delay of the event loop beyond its schedule over the window, ms. */
    delayMs?: number;
    delayP99Ms?: number;
    delayMaxMs?: number;
    /** Fraction of the window the event loop was busy, 0..1. */
    utilization?: number;
  };
  requests?: {
    /** Requests the backend has accepted and not yet answered. */
    inFlight?: number;
    /** Requests finished per second over the window. */
    perSecond?: number;
  };
  /** Further figures by name; each becomes a named metric of the target. */
  named?: Record<string, number>;
}
