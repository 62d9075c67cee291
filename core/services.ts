import { LbError } from './errors.js';

/**
 * A typed name for a service one plugin provides and others require, in the manner
 * of webpack's `getCompilationHooks`: the key carries the service's type, so
 * `services.get(KEYSTORE)` is a `Keystore` without a cast.
 */
export interface ServiceKey<T> {
  readonly name: string;
  /** @internal type carrier only; never set. */
  readonly __type?: T;
}

/** Makes a service key. Define it once, beside the service's interface, in `core/` or a shared package. */
export function serviceKey<T>(name: string): ServiceKey<T> {
  return Object.freeze({ name });
}

/**
 * The services of one generation. Which plugin provides each service is decided
 * before any plugin is applied (from what plugins declare in `provides` and
 * `requires`, and the rc's `services` choice); providers are applied first, so a
 * plugin that requires a service can `get` it in its own `apply`.
 */
export class Services {
  private readonly values = new Map<string, { plugin: string; value: unknown }>();
  /** Service name → the plugin chosen to provide it. */
  private readonly chosen: ReadonlyMap<string, string>;
  /** @internal the plugin being applied, set by the generation. */
  applying: { name: string; provides: readonly string[]; requires: readonly string[] } | undefined = undefined;
  private sealed = false;

  constructor(chosen: ReadonlyMap<string, string>) {
    this.chosen = chosen;
  }

  /** Provides a service; only the plugin chosen for it, while it is applied. */
  provide<T>(key: ServiceKey<T>, value: T): void {
    const plugin = this.current('provide', key);
    if (!this.applying!.provides.includes(key.name)) {
      throw new LbError('LB_ERR_SERVICE_UNDECLARED', { plugin, service: key.name, field: 'provides' });
    }
    // Another provider, not chosen: it was resolved out (`services` in the rc picks one); its value is not used.
    if (this.chosen.get(key.name) !== plugin) return;
    this.values.set(key.name, { plugin, value });
  }

  /** The service a plugin declared in `requires`. */
  get<T>(key: ServiceKey<T>): T {
    const plugin = this.current('get', key);
    if (!this.applying!.requires.includes(key.name) && !this.applying!.provides.includes(key.name)) {
      throw new LbError('LB_ERR_SERVICE_UNDECLARED', { plugin, service: key.name, field: 'requires' });
    }
    const entry = this.values.get(key.name);
    if (!entry) {
      const provider = this.chosen.get(key.name);
      throw new LbError('LB_ERR_SERVICE_MISSING', { plugin, service: key.name, providers: provider ? ` "${provider}" was chosen but has not provided it.` : '' });
    }
    return entry.value as T;
  }

  /** Whether a service is there (for plugins that use one only if present). */
  has(key: ServiceKey<unknown>): boolean {
    return this.values.has(key.name);
  }

  /** @internal checks, after a provider's apply, that it provided what it was chosen for. */
  checkProvided(plugin: string, provides: readonly string[]): void {
    for (const name of provides) {
      if (this.chosen.get(name) === plugin && !this.values.has(name)) throw new LbError('LB_ERR_SERVICE_NOT_PROVIDED', { plugin, service: name });
    }
  }

  /** @internal once every plugin is applied. */
  seal(): void {
    this.sealed = true;
    this.applying = undefined;
  }

  private current(action: string, key: ServiceKey<unknown>): string {
    if (this.sealed || !this.applying) {
      throw new LbError('LB_ERR_PIPELINE_SEALED', { hook: `services.${action}(${key.name})`, plugin: this.applying?.name ?? 'unknown' });
    }
    return this.applying.name;
  }
}

/** What service resolution needs to know of a plugin. */
export interface ServiceDeclarations {
  readonly name: string;
  readonly provides?: readonly string[];
  readonly requires?: readonly string[];
}

/** Providers chosen for each service, and an order to apply plugins in (providers first). */
export interface ServicePlan {
  readonly chosen: ReadonlyMap<string, string>;
  /** Indices into the plugin list, providers before the plugins that require them. */
  readonly order: readonly number[];
}

/**
 * Decides which plugin provides each service and in which order plugins are
 * applied. `choices` is the rc's `services` (service → plugin); `catalog` lists
 * every plugin known, to name possible providers in an error.
 */
export function planServices(
  plugins: readonly ServiceDeclarations[],
  choices: Readonly<Record<string, string>>,
  catalog: Iterable<ServiceDeclarations>,
): ServicePlan {
  const providers = new Map<string, string[]>();
  for (const p of plugins) for (const s of p.provides ?? []) (providers.get(s) ?? providers.set(s, []).get(s)!).push(p.name);
  const couldProvide = (service: string) => {
    const names = [...new Set([...catalog].filter((p) => p.provides?.includes(service)).map((p) => p.name))];
    return names.length ? ` Plugins that provide it: ${names.join(', ')}.` : '';
  };
  const chosen = new Map<string, string>();
  for (const [service, plugin] of Object.entries(choices)) {
    if (!(providers.get(service) ?? []).includes(plugin)) {
      throw new LbError('LB_ERR_SERVICE_UNKNOWN_PROVIDER', { service, plugin, providers: couldProvide(service) });
    }
    chosen.set(service, plugin);
  }
  for (const [service, names] of providers) {
    if (chosen.has(service)) continue;
    if (names.length > 1) throw new LbError('LB_ERR_SERVICE_AMBIGUOUS', { service, providers: names.map((n) => `"${n}"`).join(' and ') });
    chosen.set(service, names[0]);
  }
  for (const p of plugins) {
    for (const s of p.requires ?? []) {
      if (!chosen.has(s)) throw new LbError('LB_ERR_SERVICE_MISSING', { plugin: p.name, service: s, providers: couldProvide(s) });
    }
  }
  // Depth-first topological order, stable with respect to the configured order.
  const index = new Map(plugins.map((p, i) => [p.name, i]));
  const order: number[] = [];
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (i: number, path: string[]) => {
    if (state.get(i) === 'done') return;
    if (state.get(i) === 'visiting') throw new LbError('LB_ERR_SERVICE_CYCLE', { cycle: [...path, plugins[i].name].join(' → ') });
    state.set(i, 'visiting');
    for (const s of plugins[i].requires ?? []) {
      const provider = index.get(chosen.get(s)!)!;
      if (provider !== i) visit(provider, [...path, plugins[i].name]);
    }
    state.set(i, 'done');
    order.push(i);
  };
  plugins.forEach((_p, i) => visit(i, []));
  return { chosen, order };
}
