import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The fixtures folder, found upwards from the compiled test (dist/ may live anywhere), else from the working directory. */
function fixturesRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'test', 'fixtures', 'linux'))) return join(dir, 'test', 'fixtures');
  }
  return join(process.cwd(), 'test', 'fixtures');
}

const root = fixturesRoot();

export function fixtureText(platform: 'linux' | 'windows' | 'macos', name: string): string {
  return readFileSync(join(root, platform, name), 'utf8');
}

export function fixtureBytes(platform: 'linux' | 'windows' | 'macos', name: string): Buffer {
  return readFileSync(join(root, platform, name));
}
