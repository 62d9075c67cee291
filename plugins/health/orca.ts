import type { TargetMetrics } from '../../core/index.js';

/**
 * In-band load reports: the `endpoint-load-metrics` response header of the ORCA
 * format that Envoy reads (xds.data.orca.v3.OrcaLoadReport). Two encodings are read:
 * `TEXT name=value, ...` (`name:value` is accepted too, as Envoy does) and `JSON {...}`.
 */
export const LOAD_REPORT_HEADER = 'endpoint-load-metrics';

/** The fields of an ORCA load report that lb reads. */
export interface OrcaLoadReport {
  cpu_utilization?: number;
  mem_utilization?: number;
  application_utilization?: number;
  rps_fractional?: number;
  eps?: number;
  named_metrics?: Record<string, number>;
  utilization?: Record<string, number>;
}

const SCALARS = new Set(['cpu_utilization', 'mem_utilization', 'application_utilization', 'rps_fractional', 'eps']);
const MAPS = ['named_metrics', 'utilization'] as const;
type MapField = (typeof MAPS)[number];

function checkedValue(name: string, raw: string | number): number {
  if (typeof raw === 'string' && raw.trim() === '') throw new Error(`metric ${name} has no value`);
  const value = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(value)) throw new Error(`metric ${name} is not a finite number: ${String(raw).trim().slice(0, 40)}`);
  if (value < 0 && SCALARS.has(name)) throw new Error(`metric ${name} is negative (${value})`);
  return value;
}

function put(report: OrcaLoadReport, name: string, raw: string | number): void {
  if (SCALARS.has(name)) {
    const key = name as Exclude<keyof OrcaLoadReport, MapField>;
    if (report[key] !== undefined) throw new Error(`metric ${name} appears twice`);
    report[key] = checkedValue(name, raw);
    return;
  }
  const dot = name.indexOf('.');
  const group = dot > 0 ? name.slice(0, dot) : '';
  if (group !== 'named_metrics' && group !== 'utilization') throw new Error(`unsupported metric name "${name}"`);
  const key = name.slice(dot + 1);
  if (key === '') throw new Error(`metric ${name} has an empty key`);
  const map = (report[group] ??= {});
  if (Object.hasOwn(map, key)) throw new Error(`metric ${name} appears twice`);
  map[key] = checkedValue(name, raw);
}

function parseText(body: string): OrcaLoadReport {
  const report: OrcaLoadReport = {};
  for (const item of body.split(',')) {
    const pair = item.trim();
    if (pair === '') continue;
    const at = pair.search(/[=:]/);
    if (at <= 0) throw new Error(`"${pair}" is not name=value`);
    put(report, pair.slice(0, at).trim(), pair.slice(at + 1));
  }
  return report;
}

function parseJson(body: string): OrcaLoadReport {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (e) {
    throw new Error(`invalid JSON: ${(e as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('JSON report is not an object');
  const report: OrcaLoadReport = {};
  for (const [name, value] of Object.entries(data as Record<string, unknown>)) {
    if ((MAPS as readonly string[]).includes(name)) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${name} is not an object`);
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'number') throw new Error(`${name}.${key} is not a number`);
        put(report, `${name}.${key}`, v);
      }
    } else if (typeof value === 'number') {
      put(report, name, value);
    } else {
      throw new Error(SCALARS.has(name) ? `metric ${name} is not a number` : `unsupported metric name "${name}"`);
    }
  }
  return report;
}

/** Parses one header value; throws an Error whose message says what is wrong. */
export function parseLoadReportHeader(value: string): OrcaLoadReport {
  const space = value.indexOf(' ');
  const prefix = space > 0 ? value.slice(0, space) : value;
  const body = space > 0 ? value.slice(space + 1) : '';
  if (prefix === 'TEXT') return parseText(body);
  if (prefix === 'JSON') return parseJson(body);
  if (prefix === 'BIN') throw new Error('the BIN (protobuf) encoding is not supported; send TEXT or JSON');
  throw new Error(`unsupported format "${prefix.slice(0, 16)}"; expected TEXT, JSON or BIN`);
}

const short = (x: number) => String(Math.round(x * 1e4) / 1e4);

/** Formats a report in the TEXT encoding (without the header name). */
export function formatLoadReportHeader(report: OrcaLoadReport): string {
  const parts: string[] = [];
  for (const name of SCALARS) {
    const v = report[name as keyof OrcaLoadReport];
    if (typeof v === 'number' && Number.isFinite(v)) parts.push(`${name}=${short(v)}`);
  }
  for (const group of MAPS) {
    for (const [key, v] of Object.entries(report[group] ?? {})) {
      if (Number.isFinite(v) && !/[\s,=:]/.test(key)) parts.push(`${group}.${key}=${short(v)}`);
    }
  }
  return `TEXT ${parts.join(',')}`;
}

const RESERVED = new Set(['cpu', 'memory']);

/**
 * Normalises a report into target metrics: `cpu` and `memory` (clamped to 0..1:
 * ORCA lets cpu_utilization exceed 1 past a soft limit), `applicationUtilization`,
 * `rps`, `eps`, each `named_metrics.X` as `X` (except `cpu` and `memory`, which come
 * only from the standard fields) and each `utilization.X` as `utilization.X`.
 */
export function metricsFromLoadReport(report: OrcaLoadReport): TargetMetrics {
  const m: TargetMetrics = {};
  if (report.cpu_utilization !== undefined) m.cpu = Math.min(1, report.cpu_utilization);
  if (report.mem_utilization !== undefined) m.memory = Math.min(1, report.mem_utilization);
  if (report.application_utilization !== undefined) m.applicationUtilization = report.application_utilization;
  if (report.rps_fractional !== undefined) m.rps = report.rps_fractional;
  if (report.eps !== undefined) m.eps = report.eps;
  for (const [key, v] of Object.entries(report.named_metrics ?? {})) if (!RESERVED.has(key)) m[key] = v;
  for (const [key, v] of Object.entries(report.utilization ?? {})) m[`utilization.${key}`] = v;
  return m;
}
