/**
 * The oracle's view of the farm: how many request jobs each emulated CPU runs right
 * now, in shared memory that the farm thread writes. It exists only inside the bench
 * host process, where the farm thread and the balancer under test live together.
 */
export interface FarmView {
  ports: readonly number[];
  cores: readonly number[];
  background: readonly number[];
  /** Request jobs per backend, written with Atomics by the farm thread. */
  jobs: Int32Array;
}

let current: FarmView | undefined;

export function setFarmView(view: FarmView): void {
  current = view;
}

export function farmView(): FarmView {
  if (!current) throw new Error('the oracle strategy runs only inside the balance bench host (bench/balance/host.ts)');
  return current;
}
