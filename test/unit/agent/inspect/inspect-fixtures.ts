import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { FileInspection } from '../../../../agent/src/inspect/file-inspector';
import type { PersonalDataKind } from '../../../../agent/src/generated/mamori/v1/events';

/** The findings as a plain kind → count map, for readable assertions. */
export function counts(inspection: FileInspection): Partial<Record<PersonalDataKind, number>> {
  return Object.fromEntries(inspection.findings.map((f) => [f.kind, f.count]));
}

/** What coreutils' sha256sum says about a file (the reference the inspector's hash must equal). */
export function sha256sum(path: string): string | null {
  const result = spawnSync('sha256sum', ['-b', path], { encoding: 'utf8' });
  if (result.status !== 0) return null;
  return result.stdout.split(' ')[0]!;
}

/** UTF-8 text in Shift_JIS through glibc's iconv, an encoder independent of the decoder under test; null without iconv. */
export function shiftJis(text: string): Buffer | null {
  const result = spawnSync('iconv', ['-f', 'UTF-8', '-t', 'SHIFT_JIS'], { input: Buffer.from(text, 'utf8') });
  return result.status === 0 ? result.stdout : null;
}

export const hasCommand = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

export const fileText = (path: string) => readFileSync(path, 'utf8');
