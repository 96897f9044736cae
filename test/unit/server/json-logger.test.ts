import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { JsonLogger, REDACTED } from '../../../server/src/logging/json-logger';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'info') {
  const lines: string[] = [];
  return { logger: new JsonLogger(level, (line) => lines.push(line)), lines, parsed: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

test('log lines are pino JSON with time, level, msg and the fields; Nest messages carry their context; the level filters', () => {
  const { logger, lines, parsed } = capture('info');
  logger.emitFields('info', 'mamori-server ready', { grpcAddress: '127.0.0.1:50051', agents: 3 });
  logger.log('Mapped {/api/v1/agents, GET} route', 'RouterExplorer'); // Nest's chatter: debug, dropped at info
  logger.debug('not at info');
  logger.warn('slow query', 'TypeOrm');
  logger.error(new Error('boom'), 'ExceptionsHandler');
  assert.equal(lines.length, 3, lines.join('\n'));
  assert.ok(lines.every((line) => !line.includes('\n')));
  const [ready, warn, error] = parsed();
  assert.match(String(ready!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual({ ...ready, time: undefined }, { time: undefined, level: 'info', msg: 'mamori-server ready', grpcAddress: '127.0.0.1:50051', agents: 3 });
  assert.deepEqual([warn!.level, warn!.msg, warn!.context], ['warn', 'slow query', 'TypeOrm']);
  assert.deepEqual([error!.level, error!.msg, error!.error, error!.context], ['error', 'boom', 'boom', 'ExceptionsHandler']);
  assert.match(String(error!.stack), /^Error: boom\n {4}at /);
  assert.ok(!('pid' in ready!) && !('hostname' in ready!), 'no fields beyond the entry and time, level, msg');

  const quiet = capture('warn');
  quiet.logger.emitFields('info', 'dropped');
  quiet.logger.emitFields('error', 'kept');
  assert.deepEqual(quiet.parsed().map((line) => line.msg), ['kept']);
});

test('secrets are redacted: tokens, passwords, authorization headers and cookies, at the top level and one level down', () => {
  const { logger, lines, parsed } = capture('debug');
  logger.emitFields('info', 'enrollment', { token: 'mamori_et_SECRET1', agent: { id: 'a1', adminToken: 'SECRET2' } });
  logger.emitFields('warn', 'login failed', { user: 'alice', password: 'SECRET3', headers: { authorization: 'Bearer SECRET4', cookie: 'mamori_session=SECRET5', 'user-agent': 'curl' } });
  logger.warn({ msg: 'request', req: { headers: { authorization: 'Bearer SECRET6' }, url: '/api/v1/agents' } });
  assert.doesNotMatch(lines.join('\n'), /SECRET\d/);
  const [enrollment, login, request] = parsed() as Array<Record<string, any>>;
  assert.deepEqual([enrollment!.token, enrollment!.agent.adminToken, enrollment!.agent.id], [REDACTED, REDACTED, 'a1']);
  assert.deepEqual([login!.password, login!.headers.authorization, login!.headers.cookie, login!.headers['user-agent'], login!.user], [REDACTED, REDACTED, REDACTED, 'curl', 'alice']);
  assert.deepEqual([request!.msg, request!.req.headers.authorization, request!.req.url], ['request', REDACTED, '/api/v1/agents']);
});

test('the lines logged right before the process exits are all on stdout (synchronous writes)', () => {
  const loggerModule = join(__dirname, '../../../server/src/logging/json-logger.js');
  const script = `
    const { JsonLogger } = require(${JSON.stringify(loggerModule)});
    const logger = new JsonLogger('info');
    for (let i = 0; i < 20000; i++) logger.emitFields('info', 'line', { i, padding: 'x'.repeat(100) });
    logger.emitFields('error', 'last words before the crash');
    process.exit(3);
  `;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(child.status, 3, child.stderr);
  const lines = child.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 20001);
  assert.equal(JSON.parse(lines.at(-1)!).msg, 'last words before the crash');

  const thrown = spawnSync(process.execPath, ['-e', `const { JsonLogger } = require(${JSON.stringify(loggerModule)}); const logger = new JsonLogger('info'); for (let i = 0; i < 5000; i++) logger.emitFields('info', 'line', { i }); logger.emitFields('error', 'about to throw'); throw new Error('crash');`], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.notEqual(thrown.status, 0);
  assert.equal(JSON.parse(thrown.stdout.trimEnd().split('\n').at(-1)!).msg, 'about to throw');
});
