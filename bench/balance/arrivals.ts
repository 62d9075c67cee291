import { createPrng } from '../../core/index.js';

/** One request of the open-loop sequence: when it is sent and how much CPU work it asks for. */
export interface Arrival {
  /** Send time, ms after the start of the run. */
  atMs: number;
  /** CPU work, in ms of one core. */
  workMs: number;
}

/**
 * A fixed, seeded open-loop sequence: Poisson arrivals at `ratePerSecond` for
 * `durationMs`, each with exponentially distributed work of mean `meanWorkMs`.
 * Every strategy is offered exactly this sequence.
 */
export function arrivalSequence(seed: number, ratePerSecond: number, durationMs: number, meanWorkMs: number): Arrival[] {
  const random = createPrng(seed);
  const out: Arrival[] = [];
  const meanGapMs = 1000 / ratePerSecond;
  for (let t = -Math.log(1 - random()) * meanGapMs; t < durationMs; t += -Math.log(1 - random()) * meanGapMs) {
    out.push({ atMs: t, workMs: Math.round(-Math.log(1 - random()) * meanWorkMs * 1000) / 1000 });
  }
  return out;
}
