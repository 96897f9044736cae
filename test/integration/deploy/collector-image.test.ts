import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { parse as parseYaml } from 'yaml';
import { checkHealth } from '../../e2e/support/grpc-clients';
import { freePort } from '../../support/ports';
import { skipOrFail } from '../../support/prerequisites';
import { REPO_ROOT, RunningProcess } from '../../support/processes';
import { makeTempDir } from '../../support/temp-dir';

const COLLECTOR = join(REPO_ROOT, 'deploy/collector');
const dockerfile = () => readFileSync(join(COLLECTOR, 'Dockerfile'), 'utf8');

/** The Dockerfile's instructions as [KEYWORD, arguments], continuation lines joined. */
function instructions(text: string): Array<[string, string]> {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return [keyword.toUpperCase(), rest.join(' ')];
    });
}

test('the collector Dockerfile passes the linter and keeps the image rules (pinned LTS base, non-root, health check, ports, volume)', () => {
  const text = dockerfile();
  const problems = validate(text, {});
  assert.deepEqual(
    problems.map((problem) => `line ${problem.range.start.line + 1}: ${problem.message}`),
    [],
  );

  const steps = instructions(text);
  const froms = steps.filter(([keyword]) => keyword === 'FROM').map(([, args]) => args.split(/\s+/)[0]);
  const runtime = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/agent/node-runtime.json'), 'utf8')).targets['linux-x64'].version as string;
  assert.deepEqual(froms, [`node:${runtime}-bookworm-slim`, `node:${runtime}-bookworm-slim`], 'both stages on the official Node image at the LTS version the agent bundle ships');
  assert.equal(Number(runtime.split('.')[0]) % 2, 0, 'an even (LTS) Node major');

  const final = steps.slice(steps.findLastIndex(([keyword]) => keyword === 'FROM'));
  const of = (keyword: string) => final.filter(([k]) => k === keyword).map(([, args]) => args);
  const user = of('USER').at(-1);
  assert.ok(user !== undefined && /^[1-9]\d*:[1-9]\d*$/.test(user), `the runtime stage runs as a numeric non-root user, not ${user}`);
  assert.deepEqual(of('EXPOSE'), ['8080 50051']);
  assert.match(of('ENV').join(' '), /MAMORI_HTTP_ADDRESS=0\.0\.0\.0:8080/);
  assert.match(of('ENV').join(' '), /MAMORI_DATA_DIR=\/var\/lib\/mamori/);
  assert.deepEqual(of('VOLUME'), ['["/var/lib/mamori"]']);
  assert.match(of('HEALTHCHECK')[0] ?? '', /CMD \["node", "\/opt\/mamori\/healthcheck\.mjs"\]/);
  assert.match(text, /npm ci /);
  assert.match(text, /npm run build/);
  assert.match(text, /npm prune --omit=dev/);
  assert.match(text, /sh deploy\/collector\/assemble\.sh \/opt\/mamori \/src/);

  // Everything the build stage copies exists, and .dockerignore keeps none of it out.
  const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  for (const [, args] of steps.filter(([keyword]) => keyword === 'COPY')) {
    if (args.includes('--from=')) continue;
    const sources = args.split(/\s+/).filter((word) => !word.startsWith('--')).slice(0, -1);
    for (const source of sources) {
      assert.ok(existsSync(join(REPO_ROOT, source)), `COPY ${source}: no such path in the repository`);
      assert.ok(!ignored.includes(source), `COPY ${source} is excluded by .dockerignore`);
    }
  }
  for (const excluded of ['node_modules', 'dist', '.git', 'mamori-data']) assert.ok(ignored.includes(excluded), `.dockerignore leaves ${excluded} in the build context`);
});

test('compose.yaml runs the collector on PostgreSQL with health checks, volumes and secrets from an env file', () => {
  const compose = parseYaml(readFileSync(join(COLLECTOR, 'compose.yaml'), 'utf8'));
  const { postgres, collector } = compose.services;
  assert.match(postgres.image, /^postgres:\d+\.\d+/);
  assert.match(postgres.healthcheck.test.join(' '), /pg_isready/);
  assert.ok(postgres.volumes.some((volume: string) => volume.endsWith(':/var/lib/postgresql/data')));
  assert.equal(collector.build.dockerfile, 'deploy/collector/Dockerfile');
  assert.ok(existsSync(join(COLLECTOR, collector.build.context, collector.build.dockerfile)));
  assert.deepEqual(collector.depends_on, { postgres: { condition: 'service_healthy' } });
  assert.ok(collector.volumes.includes('collector-data:/var/lib/mamori'));
  assert.ok(collector.ports.includes('127.0.0.1:8080:8080'), 'REST stays on the host loopback');
  assert.ok(collector.ports.includes('50051:50051'));
  assert.deepEqual(collector.healthcheck.test, ['CMD', 'node', '/opt/mamori/healthcheck.mjs']);
  for (const service of [postgres, collector]) assert.equal(service.env_file, './collector.env');
  for (const text of [JSON.stringify(compose)]) assert.doesNotMatch(text, /PASSWORD["']?\s*[:=]\s*["']?\w/, 'no password in the compose file itself');
  const example = readFileSync(join(COLLECTOR, 'collector.env.example'), 'utf8');
  const password = /^POSTGRES_PASSWORD=(.*)$/m.exec(example)?.[1];
  assert.ok(password !== undefined);
  assert.match(example, new RegExp(`^MAMORI_DATABASE_URL=postgres://mamori:${password}@postgres:5432/mamori$`, 'm'), 'the URL uses the same password, user and database as the PostgreSQL service');
});

test('the image layout (assemble.sh, as the Dockerfile runs it) starts as a non-root user with the image settings and answers /healthz and gRPC health', async (t) => {
  if (!existsSync(join(REPO_ROOT, 'dist/console/index.html')) || !existsSync(join(REPO_ROOT, 'dist/server/src/main.js'))) {
    skipOrFail(t, 'no built collector and console in dist/ (run npm run build)');
    return;
  }
  const temp = makeTempDir('mamori-image-');
  t.after(() => temp.cleanup());
  chmodSync(temp.path, 0o755);
  const root = join(temp.path, 'opt-mamori');
  const started = Date.now();
  const assembled = spawnSync('sh', [join(COLLECTOR, 'assemble.sh'), root, REPO_ROOT], { encoding: 'utf8' });
  assert.equal(assembled.status, 0, assembled.stderr);
  const assembleMs = Date.now() - started;
  for (const path of ['dist/server/src/main.js', 'dist/console/index.html', 'proto/mamori/v1/telemetry.proto', 'healthcheck.mjs', 'node_modules/@nestjs/core', 'node_modules/better-sqlite3/build/Release/better_sqlite3.node', 'node_modules/pg']) {
    assert.ok(existsSync(join(root, path)), `${path} is in the image layout`);
  }
  for (const copied of ['dist/server', 'dist/console', 'proto', 'proto/mamori']) {
    assert.ok(!lstatSync(join(root, copied)).isSymbolicLink(), `${copied} is a copy, not a link back into the build tree`);
  }
  for (const devOnly of ['node_modules/vite', 'node_modules/@bufbuild/buf', 'node_modules/ts-proto', 'node_modules/playwright-core', 'node_modules/dockerfile-utils', 'dist/test']) {
    assert.ok(!existsSync(join(root, devOnly)), `${devOnly} (development only) is not in the image layout`);
  }

  // As in the image: a data folder owned by the service user; as root here, run as nobody.
  const dataDir = join(temp.path, 'var-lib-mamori');
  mkdirSync(dataDir, { mode: 0o700 });
  const asRoot = process.getuid?.() === 0;
  const identity = asRoot ? { uid: 65534, gid: 65534 } : {};
  if (asRoot) chownSync(dataDir, 65534, 65534);
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    MAMORI_DATA_DIR: dataDir,
    MAMORI_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
    MAMORI_GRPC_ADDRESS: `127.0.0.1:${grpcPort}`,
    MAMORI_SERVER_NAMES: 'localhost,127.0.0.1',
  };
  const server = new RunningProcess('collector from the image layout', spawn(process.execPath, [join(root, 'dist/server/src/main.js'), 'run'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], ...identity }));
  t.after(() => server.stop());
  await server.waitForLine(/"msg":"mamori-server ready"/);

  const healthcheck = spawnSync(process.execPath, [join(root, 'healthcheck.mjs')], { env, encoding: 'utf8', ...identity });
  assert.equal(healthcheck.status, 0, healthcheck.stderr);
  const caPem = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
  assert.equal(await checkHealth(`127.0.0.1:${grpcPort}`, caPem), 'SERVING');
  const consolePage = await fetch(`http://127.0.0.1:${httpPort}/`);
  assert.equal(consolePage.status, 200, 'the console is served from the layout');
  assert.match(await consolePage.text(), /<html/i);
  if (asRoot) assert.equal(statSync(join(dataDir, 'ca.key')).uid, 65534, 'the collector wrote its keys as the unprivileged user');

  server.child.kill('SIGTERM');
  assert.equal((await server.waitForExit()).code, 0, server.tail());
  const down = spawnSync(process.execPath, [join(root, 'healthcheck.mjs')], { env, encoding: 'utf8' });
  assert.equal(down.status, 1, 'the health check fails once the collector is gone');
  t.diagnostic(`assemble.sh took ${assembleMs} ms`);
});
