import type { TargetMetrics } from '../../core/index.js';
import { AGENT_STATUSES, type AgentStatus } from './report.js';

/** A valid lb-agent report, normalised. */
export interface AgentReading {
  status: AgentStatus;
  metrics: TargetMetrics;
  /** Optional fields that were present but had a wrong type or range, and were ignored. */
  ignored: string[];
}

type Json = Record<string, unknown>;
type Kind = 'fraction' | 'nonNegative';

const RESERVED = new Set(['cpu', 'memory', 'load', 'cores']);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads the JSON an lb agent serves (docs/health.md). Throws an Error naming the
 * problem when the body is not a report: not JSON, not an object, or without a
 * valid `status` and `timestamp`. Optional fields of the wrong type or range are
 * ignored and listed in `ignored`, so that one bad figure does not fail a backend.
 */
export function readAgentReport(text: string): AgentReading {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`invalid JSON: ${(e as Error).message}`);
  }
  if (!isObject(data)) throw new Error(`report is ${Array.isArray(data) ? 'an array' : data === null ? 'null' : `a ${typeof data}`}, not a JSON object`);
  const status = data.status;
  if (status === undefined) throw new Error('report has no "status"');
  if (typeof status !== 'string' || !(AGENT_STATUSES as readonly string[]).includes(status)) {
    throw new Error(`report status ${JSON.stringify(status).slice(0, 40)} is not one of ${AGENT_STATUSES.join(', ')}`);
  }
  if (typeof data.timestamp !== 'number' || !Number.isFinite(data.timestamp) || data.timestamp <= 0) {
    throw new Error('report has no valid "timestamp" (ms since the Unix epoch)');
  }

  const ignored: string[] = [];
  const read = (group: string, key: string, kind: Kind): number | undefined => {
    const g = data[group];
    if (g === undefined) return undefined;
    if (!isObject(g)) {
      if (!ignored.includes(group)) ignored.push(group);
      return undefined;
    }
    const v = g[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (kind === 'fraction' && v > 1)) {
      ignored.push(`${group}.${key}`);
      return undefined;
    }
    return v;
  };

  const m: TargetMetrics = {};
  const set = (name: string, value: number | undefined) => {
    if (value !== undefined) m[name] = value;
  };
  set('cpu', read('cpu', 'utilization', 'fraction'));
  set('processCpu', read('cpu', 'process', 'fraction'));
  const used = read('memory', 'usedBytes', 'nonNegative');
  const total = read('memory', 'totalBytes', 'nonNegative');
  set('memory', read('memory', 'utilization', 'fraction') ?? (used !== undefined && total ? Math.min(1, used / total) : undefined));
  set('rss', read('memory', 'rssBytes', 'nonNegative'));
  const load1 = read('load', 'load1', 'nonNegative');
  const cores = read('cpu', 'cores', 'nonNegative');
  if (cores !== undefined && cores >= 1) m.cores = cores;
  set('load', read('load', 'perCore', 'nonNegative') ?? (load1 !== undefined && cores ? load1 / cores : undefined));
  set('load1', load1);
  set('eventLoopDelayMs', read('eventLoop', 'delayMs', 'nonNegative'));
  set('eventLoopDelayP99Ms', read('eventLoop', 'delayP99Ms', 'nonNegative'));
  set('eventLoopUtilization', read('eventLoop', 'utilization', 'fraction'));
  set('inFlight', read('requests', 'inFlight', 'nonNegative'));
  set('rps', read('requests', 'perSecond', 'nonNegative'));
  if (isObject(data.named)) {
    for (const [key, v] of Object.entries(data.named)) {
      if (RESERVED.has(key) || typeof v !== 'number' || !Number.isFinite(v)) ignored.push(`named.${key}`);
      else m[key] = v;
    }
  } else if (data.named !== undefined) {
    ignored.push('named');
  }
  return { status: status as AgentStatus, metrics: m, ignored };
}
