import os from 'node:os';
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';

/** Figures measured over one window (the last complete one, or since start before the first ends). */
export interface LoadWindow {
  windowMs: number;
  cores: number;
  /** Host CPU busy, 0..1. */
  cpu: number;
  /** This process's CPU as a fraction of the host, 0..1 (undefined when process figures are off). */
  processCpu: number | undefined;
  eventLoopDelayMs: number | undefined;
  eventLoopDelayP99Ms: number | undefined;
  eventLoopDelayMaxMs: number | undefined;
  eventLoopUtilization: number | undefined;
  /** Requests finished per second. */
  requestsPerSecond: number;
}

interface Snapshot {
  at: number;
  cores: number;
  idle: number;
  total: number;
  process: NodeJS.CpuUsage | undefined;
  elu: EventLoopUtilization | undefined;
  finished: number;
}

// The histogram's timer fires every RESOLUTION_MS; what it records beyond that is the delay.
const RESOLUTION_MS = 10;

function hostCpuTimes(): { idle: number; total: number; cores: number } {
  let idle = 0;
  let total = 0;
  const cpus = os.cpus();
  for (const { times } of cpus) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total, cores: cpus.length };
}

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);
const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * Measures host CPU (os.cpus() deltas), process CPU (process.cpuUsage deltas),
 * event-loop delay and utilisation over fixed windows on an unref'd timer.
 */
export class LoadSampler {
  readonly windowMs: number;
  /** Requests finished since start; the owner increments it. */
  finished = 0;
  private readonly processFigures: boolean;
  private readonly histogram: IntervalHistogram | undefined;
  private readonly timer: NodeJS.Timeout;
  private last: Snapshot;
  private latest: LoadWindow | undefined;
  private readonly listeners: Array<(w: LoadWindow) => void> = [];

  constructor(windowMs: number, processFigures: boolean) {
    this.windowMs = windowMs;
    this.processFigures = processFigures;
    if (processFigures) {
      this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      this.histogram.enable();
    }
    this.last = this.snapshot();
    this.timer = setInterval(() => this.tick(), windowMs);
    this.timer.unref();
  }

  /** Calls `listener` with every completed window. */
  onWindow(listener: (w: LoadWindow) => void): void {
    this.listeners.push(listener);
  }

  /** The last complete window; before the first one ends, the figures since start. */
  current(): LoadWindow {
    return this.latest ?? this.measure(this.snapshot(), false);
  }

  close(): void {
    clearInterval(this.timer);
    this.histogram?.disable();
  }

  private snapshot(): Snapshot {
    const { idle, total, cores } = hostCpuTimes();
    return {
      at: performance.now(),
      cores,
      idle,
      total,
      process: this.processFigures ? process.cpuUsage() : undefined,
      elu: this.processFigures ? performance.eventLoopUtilization() : undefined,
      finished: this.finished,
    };
  }

  private tick(): void {
    const now = this.snapshot();
    this.latest = this.measure(now, true);
    this.last = now;
    for (const listener of this.listeners) listener(this.latest);
  }

  private measure(now: Snapshot, resetHistogram: boolean): LoadWindow {
    const last = this.last;
    const elapsedMs = Math.max(1, now.at - last.at);
    const cores = now.cores;
    const totalDelta = now.total - last.total;
    // os.cpus() counts in clock ticks (10 ms): a window with no tick yet reads as idle.
    const cpu = totalDelta > 0 ? clamp01(1 - (now.idle - last.idle) / totalDelta) : 0;
    let processCpu: number | undefined;
    if (now.process && last.process) {
      const usedUs = now.process.user - last.process.user + now.process.system - last.process.system;
      processCpu = clamp01(usedUs / 1000 / elapsedMs / Math.max(1, cores));
    }
    const h = this.histogram;
    const delay = (ns: number) => round(Math.max(0, ns / 1e6 - RESOLUTION_MS), 3);
    const hasSamples = h !== undefined && h.count > 0;
    const window: LoadWindow = {
      windowMs: Math.round(elapsedMs),
      cores,
      cpu: round(cpu),
      processCpu: processCpu === undefined ? undefined : round(processCpu),
      eventLoopDelayMs: hasSamples ? delay(h.mean) : undefined,
      eventLoopDelayP99Ms: hasSamples ? delay(h.percentile(99)) : undefined,
      eventLoopDelayMaxMs: hasSamples ? delay(h.max) : undefined,
      eventLoopUtilization: now.elu && last.elu ? round(clamp01(performance.eventLoopUtilization(now.elu, last.elu).utilization)) : undefined,
      requestsPerSecond: round(((now.finished - last.finished) * 1000) / elapsedMs, 2),
    };
    if (resetHistogram) h?.reset();
    return window;
  }
}
