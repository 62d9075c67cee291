/**
 * An emulated CPU: processor sharing over `cores`. Every active job progresses at
 * min(1, cores / active jobs) of one core; `background` jobs never end, as the
 * workers of `stress --cpu n` do. Time is real (performance.now()), so a request's
 * latency is what its share of the emulated CPU makes it, whatever the host's CPU.
 */

/** Time constant of the short averages sent in in-band load reports, ms. */
const INBAND_WINDOW_MS = 100;
/** A job this close to done (in ms of CPU work) counts as done: timers fire to the millisecond. */
const DONE_EPSILON_MS = 0.25;

interface Job {
  remainingMs: number;
  done: () => void;
}

/** Utilisation figures over a window. */
export interface CpuReading {
  /** Busy fraction of all cores, 0..1. */
  utilization: number;
  /** Mean runnable jobs per core (the load average's meaning, over the window). */
  loadPerCore: number;
  windowMs: number;
}

export class EmulatedCpu {
  readonly cores: number;
  readonly background: number;
  private readonly jobs: Job[] = [];
  private last = performance.now();
  private timer: NodeJS.Timeout | undefined;
  // Integrals since the last report: busy core-fraction × ms and runnable-per-core × ms.
  private busyIntegral = 0;
  private loadIntegral = 0;
  private windowStart = performance.now();
  // Short exponential averages for in-band reports.
  private recentBusy = 0;
  private recentLoad = 0;
  /** Called with the number of request jobs after every change (the oracle's view). */
  onChange: (jobs: number) => void = () => undefined;

  constructor(cores: number, background: number) {
    this.cores = cores;
    this.background = background;
    const runnable = background;
    this.recentBusy = Math.min(runnable, cores) / cores;
    this.recentLoad = runnable / cores;
  }

  /** Request jobs on this CPU now. */
  get active(): number {
    return this.jobs.length;
  }

  /** Runs `workMs` of one core's work; resolves when done. */
  run(workMs: number): Promise<void> {
    return new Promise((done) => {
      this.advance(performance.now());
      this.jobs.push({ remainingMs: Math.max(0, workMs), done });
      this.onChange(this.jobs.length);
      this.settle();
    });
  }

  /** Utilisation observed since the previous call (what a polled agent reports). */
  takeReading(): CpuReading {
    const now = performance.now();
    this.advance(now);
    const windowMs = now - this.windowStart;
    const reading = windowMs > 0
      ? { utilization: this.busyIntegral / windowMs, loadPerCore: this.loadIntegral / windowMs, windowMs }
      : { utilization: this.recentBusy, loadPerCore: this.recentLoad, windowMs: 0 };
    this.busyIntegral = 0;
    this.loadIntegral = 0;
    this.windowStart = now;
    return reading;
  }

  /** Utilisation over the last ~100 ms (what an in-band report carries). */
  recent(): { utilization: number; loadPerCore: number } {
    this.advance(performance.now());
    return { utilization: this.recentBusy, loadPerCore: this.recentLoad };
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private advance(now: number): void {
    const dt = now - this.last;
    if (dt <= 0) return;
    const runnable = this.jobs.length + this.background;
    const busy = Math.min(runnable, this.cores) / this.cores;
    const load = runnable / this.cores;
    if (this.jobs.length > 0) {
      const rate = Math.min(1, this.cores / runnable);
      for (const job of this.jobs) job.remainingMs -= dt * rate;
    }
    this.busyIntegral += dt * busy;
    this.loadIntegral += dt * load;
    const keep = Math.exp(-dt / INBAND_WINDOW_MS);
    this.recentBusy = this.recentBusy * keep + busy * (1 - keep);
    this.recentLoad = this.recentLoad * keep + load * (1 - keep);
    this.last = now;
  }

  /** Ends finished jobs and arms the timer for the next completion. */
  private settle(): void {
    const before = this.jobs.length;
    for (let i = this.jobs.length - 1; i >= 0; i--) {
      const job = this.jobs[i];
      if (job.remainingMs <= DONE_EPSILON_MS) {
        this.jobs.splice(i, 1);
        job.done();
      }
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.jobs.length > 0) {
      let least = Infinity;
      for (const job of this.jobs) if (job.remainingMs < least) least = job.remainingMs;
      const rate = Math.min(1, this.cores / (this.jobs.length + this.background));
      this.timer = setTimeout(this.tick, Math.max(1, (least - DONE_EPSILON_MS) / rate));
    }
    if (this.jobs.length !== before) this.onChange(this.jobs.length);
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.advance(performance.now());
    this.settle();
  };
}
