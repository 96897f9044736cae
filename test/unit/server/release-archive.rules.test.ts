import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { bundleProblem, filesInTar, parseReleaseFileName } from '../../../server/src/modules/releases/release-archive.rules';

/** A ustar entry: header with name (or prefix + name), size and type, then the padded body. */
function entry(name: string, body: string | Buffer, type = '0', prefix = ''): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write(body.length.toString(8).padStart(11, '0') + '\0', 124, 12, 'ascii');
  header.write(type, 156, 1, 'ascii');
  header.write('ustar\0', 257, 6, 'ascii');
  header.write(prefix, 345, 155, 'utf8');
  const data = Buffer.from(body);
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}
const end = Buffer.alloc(1024);
const MANIFEST = `${'a'.repeat(64)}  app/main.js\n`;

test('release file names name a version and a platform; others are refused', () => {
  assert.deepEqual(parseReleaseFileName('mamori-agent-1.2.3-linux-x64.tar.gz'), { bundle: 'mamori-agent-1.2.3-linux-x64', version: '1.2.3', platform: 'linux-x64' });
  assert.deepEqual(parseReleaseFileName('mamori-agent-0.1.0-upgrade.1-darwin-arm64.tar.gz')?.version, '0.1.0-upgrade.1');
  for (const bad of ['mamori-agent-1.2.3-win-x64.zip', 'mamori-agent-latest-linux-x64.tar.gz', 'agent.tar.gz', 'mamori-agent-1.2.3-linux-x64.tgz']) assert.equal(parseReleaseFileName(bad), null, bad);
});

test('files are found in ustar archives with a prefix field, GNU long names and pax paths', () => {
  const longName = `top/${'d'.repeat(120)}/VERSION`;
  const tar = Buffer.concat([
    entry('top/', '', '5'),
    entry('VERSION', '1.0.0\n', '0', 'top'),
    entry('././@LongLink', longName + '\0', 'L'),
    entry(longName.slice(0, 99), '2.0.0\n'),
    entry('PaxHeader', `30 path=top/pax/MANIFEST.sha256\n`, 'x'),
    entry('ignored-name', 'pax body'),
    end,
  ]);
  const found = filesInTar(tar, () => true);
  assert.equal(found.get('top/VERSION')?.toString(), '1.0.0\n');
  assert.equal(found.get(longName)?.toString(), '2.0.0\n');
  assert.equal(found.get('top/pax/MANIFEST.sha256')?.toString(), 'pax body');
  assert.throws(() => filesInTar(tar.subarray(0, 1027), () => true), /truncated/);
  assert.throws(() => filesInTar(tar.subarray(0, 1536), () => true), /ends without its end-of-archive blocks/);
});

test('a bundle must hold a VERSION equal to its name and a manifest listing the agent', () => {
  const name = parseReleaseFileName('mamori-agent-1.0.0-linux-x64.tar.gz')!;
  const archive = (files: Array<[string, string]>) => gzipSync(Buffer.concat([...files.map(([n, b]) => entry(`mamori-agent-1.0.0-linux-x64/${n}`, b)), end]));
  assert.equal(bundleProblem(archive([['VERSION', '1.0.0\n'], ['MANIFEST.sha256', MANIFEST]]), name), null);
  assert.match(bundleProblem(archive([['VERSION', '1.0.1\n'], ['MANIFEST.sha256', MANIFEST]]), name)!, /VERSION says 1\.0\.1/);
  assert.match(bundleProblem(archive([['VERSION', '1.0.0\n']]), name)!, /no .*MANIFEST\.sha256/);
  assert.match(bundleProblem(archive([['VERSION', '1.0.0\n'], ['MANIFEST.sha256', 'nothing\n']]), name)!, /does not list app\/main\.js/);
  assert.match(bundleProblem(archive([['MANIFEST.sha256', MANIFEST]]), name)!, /no mamori-agent-1\.0\.0-linux-x64\/VERSION/);
  assert.match(bundleProblem(Buffer.from('plain'), name)!, /not a gzip/);
});
