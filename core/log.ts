/** Log levels, most verbose first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'text' | 'json';
export type LogFields = Record<string, string | number | boolean | undefined | null>;

/** The logger given to plugins and used by the core: one line per event. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines carry `name` (a plugin's, say). */
  child(name: string): Logger;
  readonly level: LogLevel;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; stderr by default. */
  write?: (line: string) => void;
}

function quote(value: unknown): string {
  const s = String(value);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

export function createLogger(options: LoggerOptions = {}, name = 'lb'): Logger {
  const level = options.level ?? 'info';
  const format = options.format ?? 'text';
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const threshold = LOG_LEVELS.indexOf(level);

  const emit = (at: LogLevel, message: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(at) < threshold) return;
    const time = new Date().toISOString();
    if (format === 'json') {
      write(JSON.stringify({ time, level: at, name, msg: message, ...fields }));
      return;
    }
    let line = `${time} ${at.padEnd(5)} [${name}] ${message}`;
    if (fields) {
      for (const key in fields) {
        const v = fields[key];
        if (v !== undefined) line += ` ${key}=${quote(v)}`;
      }
    }
    write(line);
  };

  return {
    level,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (child) => createLogger(options, child),
  };
}
