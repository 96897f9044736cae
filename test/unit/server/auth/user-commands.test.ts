import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../../../server/src/cli/cli-usage';
import { parseCommandLine } from '../../../../server/src/cli/command-line';
import { ConfigError, loadCollectorConfig } from '../../../../server/src/config/collector-config';

test('user commands parse per the contract', () => {
  assert.deepEqual(parseCommandLine(['user', 'add', 'hanako', '--role', 'admin', '--role', 'Security', '--display-name', 'Hanako Yamada', '--password-stdin']), {
    name: 'user add',
    username: 'hanako',
    roles: ['admin', 'security'],
    displayName: 'Hanako Yamada',
    passwordStdin: true,
  });
  assert.deepEqual(parseCommandLine(['user', 'add', 'taro', '--role', 'it']), { name: 'user add', username: 'taro', roles: ['it'], displayName: undefined, passwordStdin: false });
  assert.deepEqual(parseCommandLine(['user', 'list', '--json']), { name: 'user list', json: true });
  assert.deepEqual(parseCommandLine(['user', 'roles', 'taro', '--role', 'auditor', '--role', 'auditor']), { name: 'user roles', username: 'taro', roles: ['auditor'] });
  assert.deepEqual(parseCommandLine(['user', 'password', 'taro']), { name: 'user password', username: 'taro', passwordStdin: false });
  assert.deepEqual(parseCommandLine(['user', 'disable', 'taro']), { name: 'user disable', username: 'taro' });
  assert.deepEqual(parseCommandLine(['user', 'enable', 'taro']), { name: 'user enable', username: 'taro' });
});

test('bad user commands name what is wrong', () => {
  const cases: Array<[string[], RegExp]> = [
    [['user'], /"user" needs a subcommand: add, list, roles, password, disable or enable/],
    [['user', 'remove', 'x'], /unknown user subcommand "remove"/],
    [['user', 'add', 'hanako'], /"user add" needs at least one --role/],
    [['user', 'add', 'hanako', '--role', 'root'], /--role must be one of admin, security, approver, it, auditor, got "root"/],
    [['user', 'add', '--role', 'admin'], /"user add" needs exactly one USERNAME/],
    [['user', 'add', 'a', 'b', '--role', 'admin'], /needs exactly one USERNAME, got "a", "b"/],
    [['user', 'disable', 'a', '--force'], /unknown option "--force"/],
    [['user', 'roles', 'a'], /"user roles" needs at least one --role/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseCommandLine(argv), (error: unknown) => error instanceof UsageError && message.test(error.message), argv.join(' '));
  }
});

test('session limits default to 8 h idle and 12 h in all, and are checked', () => {
  const noFile = () => {
    throw new Error('no file');
  };
  assert.deepEqual(loadCollectorConfig({}, '/srv', noFile).session, { idleMinutes: 480, maxHours: 12 });
  assert.deepEqual(loadCollectorConfig({ MAMORI_SESSION_IDLE_MINUTES: '30', MAMORI_SESSION_MAX_HOURS: '2' }, '/srv', noFile).session, { idleMinutes: 30, maxHours: 2 });
  const refused = (env: NodeJS.ProcessEnv, message: RegExp) =>
    assert.throws(() => loadCollectorConfig(env, '/srv', noFile), (error: unknown) => error instanceof ConfigError && message.test(error.message));
  refused({ MAMORI_SESSION_IDLE_MINUTES: '2' }, /MAMORI_SESSION_IDLE_MINUTES: must be between 5 and 10080/);
  refused({ MAMORI_SESSION_MAX_HOURS: 'long' }, /MAMORI_SESSION_MAX_HOURS: "long" is not a whole number/);
  refused({ MAMORI_SESSION_IDLE_MINUTES: '600', MAMORI_SESSION_MAX_HOURS: '8' }, /600 minutes is longer than MAMORI_SESSION_MAX_HOURS \(8 h\)/);
});
