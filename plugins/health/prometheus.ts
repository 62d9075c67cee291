import type { TargetMetrics } from '../../core/index.js';

/** One sample of the Prometheus text exposition format. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

function parseValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new Error(`"${text.slice(0, 32)}" is not a number`);
  return v;
}

/** Parses `{a="x",b="y\"z"}` starting at `from` (the `{`); returns the labels and the index after `}`. */
function parseLabels(line: string, from: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = from + 1;
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return [labels, i + 1];
    const eq = line.indexOf('=', i);
    if (eq < 0 || line[eq + 1] !== '"') throw new Error('malformed labels');
    const name = line.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') {
        j++;
        value += line[j] === 'n' ? '\n' : line[j];
      } else {
        value += line[j];
      }
    }
    if (j >= line.length) throw new Error('unterminated label value');
    labels[name] = value;
    i = j + 1;
  }
}

/**
 * Reads the samples of the families in `wanted` from Prometheus text (0.0.4 or
 * OpenMetrics). Other lines are skipped unparsed; a malformed wanted line throws.
 */
export function parsePrometheusText(text: string, wanted: ReadonlySet<string>): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trim();
    if (line === '' || line[0] === '#') continue;
    const end = line.search(/[\s{]/);
    const name = end < 0 ? line : line.slice(0, end);
    if (!wanted.has(name)) continue;
    try {
      if (end < 0) throw new Error('no value');
      let labels: Record<string, string> = {};
      let rest = end;
      if (line[end] === '{') [labels, rest] = parseLabels(line, end);
      const value = parseValue(line.slice(rest).trim().split(/\s+/)[0] ?? '');
      let list = out.get(name);
      if (!list) out.set(name, (list = []));
      list.push({ labels, value });
    } catch (e) {
      throw new Error(`line ${lineNo} (${name}): ${(e as Error).message}`);
    }
  }
  return out;
}

const CPU = 'node_cpu_seconds_total';
const MEM_AVAILABLE = 'node_memory_MemAvailable_bytes';
const MEM_TOTAL = 'node_memory_MemTotal_bytes';
const LOAD1 = 'node_load1';
const NODE_EXPORTER_FAMILIES: ReadonlySet<string> = new Set([CPU, MEM_AVAILABLE, MEM_TOTAL, LOAD1]);
const IDLE_MODES = new Set(['idle', 'iowait']);

/** CPU counters of one scrape, summed over cores, in seconds. */
export interface CpuCounters {
  busy: number;
  total: number;
}

export interface NodeExporterReading {
  metrics: TargetMetrics;
  /** Counters to keep for the next scrape's delta; undefined when the scrape had none. */
  counters: CpuCounters | undefined;
}

/**
 * Turns node_exporter's text into target metrics: `cpu` from the change of
 * node_cpu_seconds_total since `previous` (idle and iowait count as idle; nothing on
 * the first scrape or after a counter reset), `memory` = 1 − MemAvailable/MemTotal,
 * `load` = node_load1 / cores (and `load1` raw), `cores` (CPUs counted). Throws when none of them is present.
 */
export function readNodeExporter(text: string, previous: CpuCounters | undefined): NodeExporterReading {
  const families = parsePrometheusText(text, NODE_EXPORTER_FAMILIES);
  if (families.size === 0) {
    throw new Error(`no node_exporter metrics (${[...NODE_EXPORTER_FAMILIES].join(', ')}) in the response`);
  }
  const metrics: TargetMetrics = {};
  let counters: CpuCounters | undefined;
  const cores = new Set<string>();
  const cpu = families.get(CPU);
  if (cpu) {
    counters = { busy: 0, total: 0 };
    for (const s of cpu) {
      if (!Number.isFinite(s.value)) continue;
      cores.add(s.labels.cpu ?? '');
      counters.total += s.value;
      if (!IDLE_MODES.has(s.labels.mode ?? '')) counters.busy += s.value;
    }
    const dTotal = previous ? counters.total - previous.total : 0;
    const dBusy = previous ? counters.busy - previous.busy : 0;
    if (dTotal > 0 && dBusy >= 0) metrics.cpu = Math.min(1, dBusy / dTotal);
  }
  const available = families.get(MEM_AVAILABLE)?.[0]?.value;
  const total = families.get(MEM_TOTAL)?.[0]?.value;
  if (available !== undefined && total !== undefined && total > 0 && Number.isFinite(available)) {
    metrics.memory = Math.min(1, Math.max(0, 1 - available / total));
  }
  const load1 = families.get(LOAD1)?.[0]?.value;
  if (load1 !== undefined && Number.isFinite(load1) && load1 >= 0) {
    metrics.load1 = load1;
    if (cores.size > 0) metrics.load = load1 / cores.size;
  }
  if (cores.size > 0) metrics.cores = cores.size;
  return { metrics, counters };
}
