import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, USAGE } from '../../../server/src/cli/cli-usage';
import { KNOWN_VARIABLES } from '../../../server/src/config/collector-config';
import { parseCommandLine } from '../../../server/src/cli/command-line';

const ID = '0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d';

test('commands parse per the contract', () => {
  assert.deepEqual(parseCommandLine([]), { name: 'run' });
  assert.deepEqual(parseCommandLine(['run']), { name: 'run' });
  assert.deepEqual(parseCommandLine(['migrate']), { name: 'migrate' });
  assert.deepEqual(parseCommandLine(['release', 'add', 'mamori-agent-1.2.3-linux-x64.tar.gz']), { name: 'release add', archive: 'mamori-agent-1.2.3-linux-x64.tar.gz', json: false });
  assert.deepEqual(parseCommandLine(['release', 'list', '--json']), { name: 'release list', json: true });
  assert.throws(() => parseCommandLine(['release', 'add']), /needs exactly one ARCHIVE/);
  assert.throws(() => parseCommandLine(['release', 'remove']), /unknown release subcommand "remove"/);
  assert.deepEqual(parseCommandLine(['--help']), { name: 'help' });
  assert.deepEqual(parseCommandLine(['tokens', 'create', '--label', 'Sales', '--uses', '3', '--expires-in', '7d', '--zone', 'office-lan']), {
    name: 'tokens create',
    label: 'Sales',
    maxUses: 3,
    expiresInSeconds: 7 * 86_400,
    zone: 'office-lan',
    json: false,
  });
  assert.equal((parseCommandLine(['tokens', 'create']) as { zone?: string }).zone, undefined);
  assert.equal((parseCommandLine(['tokens', 'create', '--uses', '1000000', '--expires-in', '365d']) as { maxUses: number }).maxUses, 1_000_000);
  assert.equal((parseCommandLine(['tokens', 'create', '--expires-in', '365d']) as { expiresInSeconds: number }).expiresInSeconds, 31_536_000);
  assert.deepEqual(parseCommandLine(['tokens', 'list', '--json']), { name: 'tokens list', json: true });
  assert.deepEqual(parseCommandLine(['tokens', 'revoke', ID]), { name: 'tokens revoke', id: ID });
  assert.deepEqual(parseCommandLine(['agents', 'list']), { name: 'agents list', json: false });
  assert.deepEqual(parseCommandLine(['agents', 'revoke', ID]), { name: 'agents revoke', id: ID });
  assert.deepEqual(parseCommandLine(['admin-token', 'reset']), { name: 'admin-token reset' });
  assert.deepEqual(parseCommandLine(['ca', 'status']), { name: 'ca status', json: false });
  assert.deepEqual(parseCommandLine(['ca', 'rotate', '--json']), { name: 'ca rotate', json: true });
  assert.deepEqual(parseCommandLine(['ca', 'switch']), { name: 'ca switch', force: false, json: false });
  assert.deepEqual(parseCommandLine(['ca', 'retire', '--force', '--json']), { name: 'ca retire', force: true, json: true });
  assert.throws(() => parseCommandLine(['ca']), /"ca" needs a subcommand: status, rotate, switch or retire/);
  assert.throws(() => parseCommandLine(['ca', 'renew']), /unknown ca subcommand "renew"/);
  assert.throws(() => parseCommandLine(['ca', 'rotate', '--force']), /ca rotate: unknown option "--force"/);
});

test('bad usage names the offending word', () => {
  const cases: Array<[string[], RegExp]> = [
    [['serve'], /"serve"/],
    [['--verbose'], /"--verbose"/],
    [['run', '--port'], /"--port"/],
    [['tokens', 'create', '--bogus'], /"--bogus"/],
    [['tokens', 'create', '--uses', 'many'], /--uses.*"many"/],
    [['tokens', 'create', '--expires-in', '3w'], /--expires-in.*"3w"/],
    [['tokens', 'create', '--uses', '3000000000'], /--uses.*1 to 1000000.*"3000000000"/],
    [['tokens', 'create', '--uses', '1000001'], /--uses.*"1000001"/],
    [['tokens', 'create', '--uses', '0'], /--uses.*"0"/],
    [['tokens', 'create', '--uses', '99999999999999999999999'], /--uses.*"99999999999999999999999"/],
    [['tokens', 'create', '--expires-in', '366d'], /--expires-in.*365d.*"366d"/],
    [['tokens', 'create', '--expires-in', '9999999d'], /--expires-in.*"9999999d"/],
    [['tokens', 'create', '--expires-in', '0s'], /--expires-in.*"0s"/],
    [['tokens', 'delete'], /"delete"/],
    [['agents', 'revoke', 'abc'], /"abc"/],
    [['agents'], /subcommand/],
    [['admin-token'], /subcommand/],
    [['admin-token', 'rotate'], /"rotate"/],
    [['admin-token', 'reset', '--force'], /"--force"/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseCommandLine(argv), (error: Error) => error instanceof UsageError && message.test(error.message), argv.join(' '));
  }
});

test('audit verify parses, with --json, and names a bad subcommand or option', () => {
  assert.deepEqual(parseCommandLine(['audit', 'verify']), { name: 'audit verify', json: false });
  assert.deepEqual(parseCommandLine(['audit', 'verify', '--json']), { name: 'audit verify', json: true });
  assert.deepEqual(parseCommandLine(['audit', 'verify', '--anchor', `12:${'AB'.repeat(32)}`]), { name: 'audit verify', json: false, anchor: { sequence: 12, hash: 'ab'.repeat(32) } });
  assert.throws(() => parseCommandLine(['audit', 'verify', '--anchor', '12:abc']), (error: Error) => error instanceof UsageError && /--anchor must be <sequence>:<hash>/.test(error.message));
  assert.throws(() => parseCommandLine(['audit']), (error: Error) => error instanceof UsageError && /needs a subcommand: verify/.test(error.message));
  assert.throws(() => parseCommandLine(['audit', 'delete']), (error: Error) => error instanceof UsageError && /unknown audit subcommand "delete"/.test(error.message));
  assert.throws(() => parseCommandLine(['audit', 'verify', '--fix']), (error: Error) => error instanceof UsageError && /"--fix"/.test(error.message));
});

test('--help names every configuration variable the collector accepts, and the README documents each', () => {
  // Compiled tests run from dist/test/unit/server; the README sits at the repository root.
  const readme = readFileSync(join(__dirname, '../../../../README.md'), 'utf8');
  for (const variable of KNOWN_VARIABLES) {
    assert.ok(USAGE.includes(variable), `--help does not name ${variable}`);
    assert.ok(readme.includes(`\`${variable}\``), `README does not document ${variable}`);
  }
});
