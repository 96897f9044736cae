import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../../../../support/temp-dir';
import { ProcSocketOwnerLookup, UserNameCache } from '../../../../../agent/src/enforce/egress/socket-owner';
import { CommandError, type CommandRunner } from '../../../../../agent/src/facts/command-runner';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

/** A /proc tree with the parts the lookup reads: net namespace link, net tables, fd links, comm. */
function fakeProcess(root: string, pid: number, options: { namespace: string; tcp?: string; udp?: string; sockets: number[]; comm: string }) {
  const dir = join(root, String(pid));
  mkdirSync(join(dir, 'ns'), { recursive: true });
  mkdirSync(join(dir, 'net'), { recursive: true });
  mkdirSync(join(dir, 'fd'), { recursive: true });
  symlinkSync(options.namespace, join(dir, 'ns', 'net'));
  writeFileSync(join(dir, 'net', 'tcp'), HEADER + (options.tcp ?? ''));
  writeFileSync(join(dir, 'net', 'tcp6'), HEADER);
  writeFileSync(join(dir, 'net', 'udp'), HEADER + (options.udp ?? ''));
  writeFileSync(join(dir, 'net', 'udp6'), HEADER);
  options.sockets.forEach((inode, i) => symlinkSync(`socket:[${inode}]`, join(dir, 'fd', String(3 + i))));
  writeFileSync(join(dir, 'comm'), `${options.comm}\n`);
}

test('finds the process holding the socket, in the namespace that has it', async () => {
  const temp = makeTempDir();
  try {
    const uid = process.getuid?.() ?? 0;
    // Local 10.99.0.1:40114 -> 10.99.0.2:9090, established, inode 51591 (from the captured /proc/net/tcp).
    const row = '   1: 0100630A:9CB2 0200630A:2382 01 00000000:00000000 00:00000000 00000000     0        0 51591 2 0000000000000000 20 0 0 10 -1\n';
    fakeProcess(temp.path, 100, { namespace: 'net:[4026531840]', sockets: [7, 8], comm: 'systemd' });
    fakeProcess(temp.path, 200, { namespace: 'net:[4026532999]', tcp: row, sockets: [51590], comm: 'other' });
    fakeProcess(temp.path, 300, { namespace: 'net:[4026532999]', tcp: row, sockets: [12, 51591], comm: 'curl' });
    const sut = new ProcSocketOwnerLookup(temp.path);
    assert.deepEqual(await sut.find({ uid, protocol: 'tcp', localPort: 40114, remotePort: 9090 }), { pid: 300, name: 'curl' });
    assert.equal(await sut.find({ uid, protocol: 'tcp', localPort: 40115, remotePort: 9090 }), null, 'no such socket');
    assert.equal(await sut.find({ uid: uid + 1, protocol: 'tcp', localPort: 40114, remotePort: 9090 }), null, 'another user\'s processes only');
  } finally {
    temp.cleanup();
  }
});

test('an unconnected UDP socket (remote port 0) matches any destination port; the lookups per second are bounded', async () => {
  const temp = makeTempDir();
  try {
    const row = ' 419: 00000000:B9D8 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 51590 2 0000000000000000 0\n';
    fakeProcess(temp.path, 400, { namespace: 'net:[1]', udp: row, sockets: [51590], comm: 'node' });
    let now = 0;
    const sut = new ProcSocketOwnerLookup(temp.path, 2, () => now);
    const query = { uid: null, protocol: 'udp' as const, localPort: 47576, remotePort: 7000 };
    assert.deepEqual(await sut.find(query), { pid: 400, name: 'node' });
    assert.deepEqual(await sut.find(query), { pid: 400, name: 'node' });
    assert.equal(await sut.find(query), null, 'the third lookup in the same second is skipped');
    now = 1000;
    assert.deepEqual(await sut.find(query), { pid: 400, name: 'node' });
  } finally {
    temp.cleanup();
  }
});

test('user names come from getent once per uid; an unknown uid is reported as its number', async () => {
  let calls = 0;
  const runner: CommandRunner = {
    async run(_file, args) {
      calls++;
      if (args[1] === '1000') return { stdout: 'alice:x:1000:1000:Alice:/home/alice:/bin/bash\n', stderr: '' };
      throw new CommandError('getent failed', 'failed', 2);
    },
  };
  const sut = new UserNameCache(runner);
  assert.equal(await sut.nameOf(1000), 'alice');
  assert.equal(await sut.nameOf(1000), 'alice');
  assert.equal(await sut.nameOf(4242), '4242');
  assert.equal(calls, 2);
});
