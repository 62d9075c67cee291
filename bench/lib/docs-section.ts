import { readFileSync, writeFileSync } from 'node:fs';

/**
 * Replaces what lies between `<!-- name:start -->` and `<!-- name:end -->` in `file`
 * with `content`, leaving everything else untouched. Throws when the markers are missing.
 */
export function replaceSection(file: string, name: string, content: string): void {
  const text = readFileSync(file, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end, from);
  if (from < 0 || to < 0) throw new Error(`${file} has no "${start}" ... "${end}" section`);
  const updated = `${text.slice(0, from + start.length)}\n${content.trim()}\n${text.slice(to)}`;
  writeFileSync(file, updated);
}
