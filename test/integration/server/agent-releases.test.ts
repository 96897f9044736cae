import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { ReleaseServiceClient, type DownloadReleaseResponse } from '../../../agent/src/generated/mamori/v1/release';
import type { GetPolicyResponse } from '../../../agent/src/generated/mamori/v1/policy';
import { RELEASE_MAX_BYTES, ReleasesService } from '../../../server/src/modules/releases/releases.service';
import { DATABASE_KINDS } from '../../support/databases';
import { makeTempDir } from '../../support/temp-dir';
import { bundleArchive } from '../../support/release-archive';
import { ADMIN_TOKEN, enrollAgent, policyClient, startTestCollector, unary, type TestCollector } from './collector-harness';
import { roleUser, signIn } from './role-users';

/** POST /api/v1/agent-releases as curl --data-binary sends it. */
async function upload(collector: TestCollector, fileName: string, bytes: Buffer, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const response = await fetch(`${collector.httpBase}/api/v1/agent-releases?fileName=${encodeURIComponent(fileName)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip', ...headers },
    body: bytes,
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Announces a body larger than the limit and sends a few bytes of it: the answer must not wait for the rest. */
function oversizedUpload(collector: TestCollector): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${collector.httpBase}/api/v1/agent-releases?fileName=mamori-agent-9.0.0-linux-x64.tar.gz`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/gzip', 'content-length': String(RELEASE_MAX_BYTES + 1) },
    });
    request.on('response', (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      response.on('end', () => {
        request.destroy();
        resolve({ status: response.statusCode ?? 0, body });
      });
    });
    request.on('error', reject);
    request.write(Buffer.alloc(1024));
  });
}

/**
 * A minimal bundle archive as the packer lays it out: <name>/VERSION, <name>/MANIFEST.sha256 and
 * what it lists, plus `padding` random bytes (incompressible, so the archive spans several 1 MiB rows).
 */
function download(client: ReleaseServiceClient, version: string, platform: string): Promise<DownloadReleaseResponse[]> {
  return new Promise((resolve, reject) => {
    const messages: DownloadReleaseResponse[] = [];
    const call = client.downloadRelease({ version, platform });
    call.on('data', (message: DownloadReleaseResponse) => messages.push(message));
    call.on('error', reject);
    call.on('end', () => resolve(messages));
  });
}

// The release register, the fleet's target and the download, against a collector on each database.
for (const kind of DATABASE_KINDS) {
  describe(`agent releases on ${kind}`, () => {
    test('a checked bundle is stored in chunks, the target travels in the policy, agents download the exact bytes over mutual TLS; changes are audited', async (t) => {
      const collector = await startTestCollector(t, kind);
      if (collector === null) return;
      const work = makeTempDir('mamori-releases-');
      t.after(() => work.cleanup());
      const releases = collector.collector.app.get(ReleasesService);
      const agent = await enrollAgent(t, collector);

      // Refused: a name that is no bundle's, a VERSION that contradicts the name, no manifest.
      const good = bundleArchive(work.path, '2.0.0', { padding: 2_500_000 });
      await assert.rejects(releases.add('agent.tar.gz', good.bytes, 'tester'), /is not named like an agent bundle archive/);
      const lying = bundleArchive(work.path, '2.0.1', { versionFile: '2.0.2' });
      await assert.rejects(releases.add('mamori-agent-2.0.1-linux-x64.tar.gz', lying.bytes, 'tester'), /its VERSION says 2\.0\.2, its name says 2\.0\.1/);
      const bare = bundleArchive(work.path, '2.0.3', { manifest: false });
      await assert.rejects(releases.add('mamori-agent-2.0.3-linux-x64.tar.gz', bare.bytes, 'tester'), /holds no mamori-agent-2\.0\.3-linux-x64\/MANIFEST\.sha256/);
      await assert.rejects(releases.add('mamori-agent-2.0.0-linux-x64.tar.gz', randomBytes(1000), 'tester'), /not a gzip-compressed archive/);

      const stored = await releases.add('mamori-agent-2.0.0-linux-x64.tar.gz', good.bytes, 'tester');
      const sha256 = createHash('sha256').update(good.bytes).digest('hex');
      assert.deepEqual([stored.version, stored.platform, stored.sha256, stored.sizeBytes], ['2.0.0', 'linux-x64', sha256, good.bytes.length]);
      // A version names one set of bytes forever.
      await assert.rejects(releases.add('mamori-agent-2.0.0-linux-x64.tar.gz', bundleArchive(work.path, '2.0.0').bytes, 'tester'), /already stored .* cannot be replaced/);

      // REST: listed, no target yet; a target must be stored; readers may not set it.
      const listed = await collector.rest('GET', '/api/v1/agent-releases');
      assert.equal(listed.status, 200);
      assert.equal(listed.body.target, null);
      assert.deepEqual(listed.body.items.map((i: { version: string; sha256: string }) => [i.version, i.sha256]), [['2.0.0', sha256]]);
      assert.deepEqual(listed.body.agents.map((a: { agentId: string; onTarget: boolean }) => [a.agentId, a.onTarget]), [[agent.agentId, true]]);
      assert.equal((await collector.rest('PUT', '/api/v1/agent-releases/target', { version: '9.9.9' })).status, 404);
      assert.equal((await collector.rest('PUT', '/api/v1/agent-releases/target', { version: 'latest' })).status, 400);
      assert.equal((await collector.rest('PUT', '/api/v1/agent-releases/target', { version: '2.0.0' }, null)).status, 401);

      const policy = policyClient(t, collector, agent.credentials);
      const before = await unary<GetPolicyResponse>((callback) => policy.getPolicy({ knownVersion: '0', knownLineageId: '' }, callback));
      assert.equal(before.policy?.agentRelease, undefined, 'no target: the policy names none');

      const set = await collector.rest('PUT', '/api/v1/agent-releases/target', { version: '2.0.0' });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.deepEqual(set.body.target, { version: '2.0.0', artifacts: [{ platform: 'linux-x64', sha256, sizeBytes: good.bytes.length }] });
      // The agent's reported version ('' here: it sent no host facts) is not the target.
      assert.equal(set.body.agents[0].onTarget, false);
      const after = await unary<GetPolicyResponse>((callback) => policy.getPolicy({ knownVersion: before.policy!.version, knownLineageId: before.policy!.lineageId }, callback));
      assert.equal(after.unchanged, false, 'setting the target published a new policy version');
      assert.equal(Number(after.policy!.version), Number(before.policy!.version) + 1);
      assert.deepEqual(after.policy!.agentRelease, { version: '2.0.0', artifacts: [{ platform: 'linux-x64', sha256, sizeBytes: String(good.bytes.length) }] });

      // The download: the exact bytes, in order, in 1 MiB chunks, to an enrolled agent only.
      const client = new ReleaseServiceClient(collector.grpcTarget, agent.credentials, { 'grpc.use_local_subchannel_pool': 1 });
      t.after(() => client.close());
      const chunks = await download(client, '2.0.0', 'linux-x64');
      assert.equal(chunks.length, Math.ceil(good.bytes.length / (1024 * 1024)));
      assert.ok(chunks.every((c) => Number(c.sizeBytes) === good.bytes.length));
      assert.deepEqual(chunks.map((c) => Number(c.offset)), chunks.map((_, i) => i * 1024 * 1024));
      assert.equal(createHash('sha256').update(Buffer.concat(chunks.map((c) => c.data))).digest('hex'), sha256);
      await assert.rejects(download(client, '2.0.0', 'linux-arm64'), (error: grpc.ServiceError) => error.code === grpc.status.NOT_FOUND && /no bundle of version 2\.0\.0 for linux-arm64/.test(error.details));
      const stranger = new ReleaseServiceClient(collector.grpcTarget, grpc.credentials.createSsl(Buffer.from(collector.caPem)), { 'grpc.use_local_subchannel_pool': 1 });
      t.after(() => stranger.close());
      await assert.rejects(download(stranger, '2.0.0', 'linux-x64'), (error: grpc.ServiceError) => error.code === grpc.status.UNAUTHENTICATED);

      // Clearing the target publishes a version without one.
      assert.equal((await collector.rest('PUT', '/api/v1/agent-releases/target', { version: null })).status, 200);
      const cleared = await unary<GetPolicyResponse>((callback) => policy.getPolicy({ knownVersion: after.policy!.version, knownLineageId: after.policy!.lineageId }, callback));
      assert.equal(cleared.policy!.agentRelease, undefined);

      const records = (await collector.rest('GET', '/api/v1/audit?subjectType=agent_release_target')).body.items as Array<{ action: string; before: any; after: any }>;
      assert.deepEqual(records.map((r) => [r.action, r.before?.version ?? null, r.after?.version ?? null]).reverse(), [
        ['agent_release.target_set', null, '2.0.0'],
        ['agent_release.target_set', '2.0.0', null],
      ]);
      const addedRecords = (await collector.rest('GET', '/api/v1/audit?subjectType=agent_release')).body.items as Array<{ action: string; subject: { id: string }; after: any }>;
      assert.deepEqual(addedRecords.map((r) => [r.action, r.subject.id, r.after.sha256]), [['agent_release.added', '2.0.0/linux-x64', sha256]]);
      assert.equal((await collector.rest('GET', '/api/v1/audit/verify')).body.ok, true);
    });

    test('an administrator uploads a bundle over REST (checked like release add, never replaced, audited); other roles and wrong bodies are refused with the reason', async (t) => {
      const collector = await startTestCollector(t, kind);
      if (collector === null) return;
      const work = makeTempDir('mamori-releases-upload-');
      t.after(() => work.cleanup());
      const admin = await roleUser(collector, 'kanri', ['admin']);
      const it = await roleUser(collector, 'joho', ['it']);
      const bundle = bundleArchive(work.path, '3.1.0', { padding: 1_500_000 });
      const fileName = 'mamori-agent-3.1.0-linux-x64.tar.gz';
      const asAdmin = { authorization: `Bearer ${(admin.token as { token: string }).token}` };

      const forbidden = await upload(collector, fileName, bundle.bytes, { authorization: `Bearer ${(it.token as { token: string }).token}` });
      assert.equal(forbidden.status, 403, 'IT sets the target but does not add code that runs on every laptop');
      assert.deepEqual(forbidden.body.requiredRoles, ['admin']);
      assert.equal((await upload(collector, fileName, bundle.bytes, {})).status, 401);

      // (A large body sent as JSON is refused earlier, by the JSON parser's own 100 KB limit.)
      const asJson = await upload(collector, fileName, Buffer.from(JSON.stringify({ archive: 'mamori-agent-3.1.0-linux-x64.tar.gz' })), { ...asAdmin, 'content-type': 'application/json' });
      assert.equal(asJson.status, 400);
      assert.match(asJson.body.message, /send the bundle archive as content-type application\/gzip/);
      const badName = await upload(collector, 'agent.tgz', bundle.bytes, asAdmin);
      assert.equal(badName.status, 400);
      assert.match(badName.body.message, /"agent\.tgz" is not named like an agent bundle archive/);
      const notGzip = await upload(collector, fileName, randomBytes(2000), asAdmin);
      assert.equal(notGzip.status, 400);
      assert.match(notGzip.body.message, /not a gzip-compressed archive/);
      const renamed = await upload(collector, 'mamori-agent-3.1.1-linux-x64.tar.gz', bundle.bytes, asAdmin);
      assert.equal(renamed.status, 400);
      assert.match(renamed.body.message, /holds no mamori-agent-3\.1\.1-linux-x64\/VERSION: not an agent bundle, or renamed/);
      const tooLarge = await oversizedUpload(collector);
      assert.equal(tooLarge.status, 413);
      assert.match(tooLarge.body, new RegExp(`larger than ${RELEASE_MAX_BYTES} bytes`));
      assert.deepEqual((await collector.rest('GET', '/api/v1/agent-releases')).body.items, [], 'nothing refused was stored');

      // A console session (with its CSRF token) as well as a token may upload.
      const session = await signIn(collector, 'kanri');
      const stored = await upload(collector, fileName, bundle.bytes, { cookie: session.cookie, 'x-csrf-token': session.csrfToken });
      assert.equal(stored.status, 201, JSON.stringify(stored.body));
      const sha256 = createHash('sha256').update(bundle.bytes).digest('hex');
      assert.deepEqual([stored.body.version, stored.body.platform, stored.body.fileName, stored.body.sha256, stored.body.sizeBytes, stored.body.uploadedBy], ['3.1.0', 'linux-x64', fileName, sha256, bundle.bytes.length, 'kanri']);
      const again = await upload(collector, fileName, bundleArchive(work.path, '3.1.0').bytes, asAdmin);
      assert.equal(again.status, 409);
      assert.match(again.body.message, /3\.1\.0 for linux-x64 is already stored \(sha256 [0-9a-f]{64}\); a version's bundle cannot be replaced/);

      // The stored bytes are the uploaded ones: what an agent downloads.
      const agent = await enrollAgent(t, collector);
      const client = new ReleaseServiceClient(collector.grpcTarget, agent.credentials, { 'grpc.use_local_subchannel_pool': 1 });
      t.after(() => client.close());
      const chunks = await download(client, '3.1.0', 'linux-x64');
      assert.equal(createHash('sha256').update(Buffer.concat(chunks.map((c) => c.data))).digest('hex'), sha256);
      assert.equal((await collector.rest('PUT', '/api/v1/agent-releases/target', { version: '3.1.0' }, (it.token as { token: string }).token)).status, 200, 'IT makes the uploaded version the target');

      const added = (await collector.rest('GET', '/api/v1/audit?subjectType=agent_release')).body.items as Array<{ action: string; actor: { name: string }; after: any }>;
      assert.deepEqual(added.map((r) => [r.action, r.actor.name, r.after.sha256]), [['agent_release.added', 'kanri', sha256]]);
    });
  });
}
