import type { ResolvedConfig, ResolvedPlugin } from './config/resolve.js';
import type { TargetChanges } from './target-pool.js';

/** What a reload changed, for its log line and its caller. */
export interface ReloadChanges {
  readonly backendsAdded: readonly string[];
  readonly backendsRemoved: readonly string[];
  /** `round-robin → metric-based`, or undefined when the strategy stayed. */
  readonly strategy: string | undefined;
  readonly pluginsAdded: readonly string[];
  readonly pluginsRemoved: readonly string[];
  /** Plugins (and the strategy) kept with other options. */
  readonly optionsChanged: readonly string[];
  /** Top-level settings changed (timeouts, retries, limits, log...). */
  readonly settingsChanged: readonly string[];
  /** The same as log fields: only what changed. */
  readonly fields: Readonly<Record<string, string>>;
}

const SETTINGS = ['timeouts', 'retries', 'limits', 'log', 'services'] as const;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Compares two configurations and the target changes of a swap. */
export function describeReload(from: ResolvedConfig, to: ResolvedConfig, targets: TargetChanges): ReloadChanges {
  const names = (list: readonly ResolvedPlugin[]) => new Map(list.map((p) => [p.plugin.name, p]));
  const before = names(from.plugins);
  const after = names(to.plugins);
  const pluginsAdded = [...after.keys()].filter((n) => !before.has(n));
  const pluginsRemoved = [...before.keys()].filter((n) => !after.has(n));
  const optionsChanged = [...after.keys()].filter((n) => before.has(n) && !same(before.get(n)!.options, after.get(n)!.options));
  const fromStrategy = from.strategy.plugin.name;
  const toStrategy = to.strategy.plugin.name;
  const strategy = fromStrategy === toStrategy ? undefined : `${fromStrategy} → ${toStrategy}`;
  if (!strategy && !same(from.strategy.options, to.strategy.options)) optionsChanged.unshift(toStrategy);
  const settingsChanged = SETTINGS.filter((k) => !same(from.config[k as keyof typeof from.config], to.config[k as keyof typeof to.config]));
  const changes = {
    backendsAdded: targets.added.map((t) => t.id),
    backendsRemoved: targets.removed.map((t) => t.id),
    strategy, pluginsAdded, pluginsRemoved, optionsChanged, settingsChanged,
  };
  const fields: Record<string, string> = {};
  if (changes.backendsAdded.length) fields.backendsAdded = changes.backendsAdded.join(',');
  if (changes.backendsRemoved.length) fields.backendsRemoved = changes.backendsRemoved.join(',');
  if (strategy) fields.strategy = strategy;
  if (pluginsAdded.length) fields.pluginsAdded = pluginsAdded.join(',');
  if (pluginsRemoved.length) fields.pluginsRemoved = pluginsRemoved.join(',');
  if (optionsChanged.length) fields.optionsChanged = optionsChanged.join(',');
  if (settingsChanged.length) fields.settingsChanged = settingsChanged.join(',');
  if (Object.keys(fields).length === 0) fields.changed = 'nothing';
  return { ...changes, fields };
}
