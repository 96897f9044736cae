import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATABASE_KINDS } from '../support/databases';
import { startNodeProgram, AGENT_BIN } from '../support/processes';
import { makeTempDir } from '../support/temp-dir';
import { AgentUnderTest, CollectorUnderTest } from './support/cluster';
import { eventually } from './support/rest-client';

/** The fake encryption backend's file, in the generated TypeScript shape of DiskEncryptionStatus. */
function rootVolume(encrypted: boolean) {
  return {
    volumes: [
      {
        device: encrypted ? '/dev/mapper/root' : '/dev/nvme0n1p2',
        mountPoint: '/',
        systemVolume: true,
        removable: false,
        encryption: encrypted
          ? { scheme: 'ENCRYPTION_SCHEME_LUKS2', fullyEncrypted: true, percentEncrypted: 100, protectionOn: true }
          : { scheme: 'ENCRYPTION_SCHEME_NONE', fullyEncrypted: false, percentEncrypted: 0, protectionOn: false },
        locked: false,
        method: encrypted ? 'aes-xts-plain64' : '',
        sizeBytes: '511101108224',
        filesystemType: 'ext4',
        encryptedBy: encrypted ? '/dev/nvme0n1p3' : '',
      },
    ],
    problems: [],
  };
}

/** Written beside and renamed into place, so the agent never reads half a file. */
function writeReport(path: string, report: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(report));
  renameSync(`${path}.tmp`, path);
}

// The ledger end to end: a real agent process (fake encryption backend reading a file it re-reads
// at each check) reports to a real collector process over mutual TLS; the reviewer sees the
// machine, its unencrypted root and the violations over REST, then the disk becomes encrypted.
for (const kind of DATABASE_KINDS) {
  describe(`laptop ledger end to end on ${kind}`, () => {
    test('an unencrypted root raises disk.unencrypted; once encrypted the machine is compliant and the violation is resolved', async (t) => {
      const collector = await CollectorUnderTest.start(t, kind);
      if (collector === null) return;
      const dir = makeTempDir('mamori-ledger-e2e-');
      t.after(() => dir.cleanup());
      const reportPath = join(dir.path, 'encryption.json');
      writeReport(reportPath, rootVolume(false));

      const agent = await AgentUnderTest.enroll(t, collector);
      agent.process = startNodeProgram('mamori-agent', AGENT_BIN, ['run', '--state-dir', agent.stateDir], {
        ...agent.env,
        MAMORI_AGENT_ENCRYPTION_BACKEND: 'fake',
        MAMORI_AGENT_FAKE_ENCRYPTION_FILE: reportPath,
        MAMORI_AGENT_ENCRYPTION_CHECK_SECONDS: '1',
      });
      await agent.process.waitForLine(/"msg":"mamori-agent running"/, 30_000);

      const violation = await eventually('disk.unencrypted listed', async () => {
        const page = await collector.rest.expect<{ items: any[] }>(200, 'GET', `/api/v1/violations?agentId=${agent.agentId}&rule=disk.unencrypted`);
        return page.items.length > 0 ? page.items : undefined;
      });
      assert.equal(violation.length, 1);
      assert.equal(violation[0].status, 'open');
      assert.match(violation[0].summary, /system volume \/ \(\/dev\/nvme0n1p2\) is not encrypted/);

      // The machine is not in the ledger yet: it is listed, and ledger.unknown_device says so.
      const discovered = await eventually('the machine in the device list', async () => {
        const page = await collector.rest.expect<{ items: any[] }>(200, 'GET', '/api/v1/ledger/devices?status=not_in_ledger&encrypted=no');
        return page.items.find((d) => d.agent?.id === agent.agentId);
      });
      assert.equal(discovered.encryption.state, 'not_encrypted');
      assert.equal(discovered.encryption.systemVolumeEncrypted, 'failed');
      assert.ok(discovered.agent.hostname.length > 0);
      assert.ok(discovered.agent.lastSeenAt);
      const unknown = await collector.rest.expect<{ items: any[] }>(200, 'GET', `/api/v1/violations?agentId=${agent.agentId}&rule=ledger.unknown_device`);
      assert.equal(unknown.items.length, 1);

      // IT adds it to the ledger: on loan to its holder.
      const added = await collector.rest.expect<any>(200, 'PATCH', `/api/v1/ledger/devices/${discovered.id}`, {
        assetTag: 'PC-E2E-001',
        department: 'Sales',
        holder: 'Hanako Yamada',
        loanedSince: '2025/04/01',
        dueBack: '2099/03/31',
        status: 'on_loan',
      });
      assert.equal(added.inLedger, true);
      const unknownAfter = await collector.rest.expect<any>(200, 'GET', `/api/v1/violations/${unknown.items[0].id}`);
      assert.equal(unknownAfter.status, 'resolved');

      writeReport(reportPath, rootVolume(true));
      const compliant = await eventually('the machine reported encrypted', async () => {
        const view = await collector.rest.expect<any>(200, 'GET', `/api/v1/ledger/devices/${discovered.id}`);
        return view.encryption.state === 'encrypted' ? view : undefined;
      });
      assert.equal(compliant.encryption.volumes[0].scheme, 'luks2');
      assert.equal(compliant.encryption.volumes[0].encryptedBy, '/dev/nvme0n1p3');
      const cleared = await eventually('disk.unencrypted resolved', async () => {
        const view = await collector.rest.expect<any>(200, 'GET', `/api/v1/violations/${violation[0].id}`);
        return view.status === 'resolved' ? view : undefined;
      });
      assert.match(cleared.note, /cleared by the collector .*every fixed disk encrypted/);

      const summary = await collector.rest.expect<{ departments: any[] }>(200, 'GET', '/api/v1/ledger/summary?department=Sales');
      assert.deepEqual(
        { machines: summary.departments[0].machines, enrolled: summary.departments[0].enrolled, encrypted: summary.departments[0].encrypted },
        { machines: 1, enrolled: 1, encrypted: 1 },
      );
    });
  });
}
