#!/usr/bin/env node
// Quickstart: one collector on the embedded SQLite default and one agent on this machine,
// enrolled against it, replaying fake USB devices (deploy/quickstart/demo-usb.jsonl) until the
// real USB backends land. Everything lives in ./.mamori-quickstart; run again to resume,
// delete the folder to start over. Ctrl-C stops both programs.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const home = resolve(process.env.MAMORI_QUICKSTART_DIR ?? join(root, '.mamori-quickstart'));
const grpcAddress = process.env.MAMORI_GRPC_ADDRESS ?? '127.0.0.1:50051';
const httpAddress = process.env.MAMORI_HTTP_ADDRESS ?? '127.0.0.1:8080';
const serverBin = join(root, 'dist/server/src/main.js');
const agentBin = join(root, 'dist/agent/src/main.js');

mkdirSync(home, { recursive: true, mode: 0o700 });
const tokenFile = join(home, 'admin-token');
if (!existsSync(tokenFile)) writeFileSync(tokenFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
const adminToken = readFileSync(tokenFile, 'utf8').trim();
const agentState = join(home, 'agent');
const usbScript = join(home, 'usb-script.jsonl');

const children = [];
function start(name, bin, args, env) {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`quickstart: ${name} exited (${signal ?? code}); stopping.`);
      stop(1);
    }
  });
  return child;
}

let stopping = false;
function stop(code = 0) {
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 500).unref();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

function waitForLine(child, pattern, logPrefix) {
  return new Promise((resolveLine, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (process.env.MAMORI_QUICKSTART_VERBOSE) console.log(`${logPrefix} ${line}`);
        if (pattern.test(line)) resolveLine(line);
      }
    });
    child.once('exit', () => reject(new Error(`${logPrefix} exited before it was ready`)));
  });
}

async function api(method, path, body) {
  const response = await fetch(`http://${httpAddress}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok && response.status !== 409) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

const server = start('mamori-server', serverBin, ['run'], {
  MAMORI_DATA_DIR: join(home, 'collector'),
  MAMORI_GRPC_ADDRESS: grpcAddress,
  MAMORI_HTTP_ADDRESS: httpAddress,
  MAMORI_ADMIN_TOKEN: adminToken,
});
await waitForLine(server, /"msg":"mamori-server ready"/, '[server]');
console.log(`quickstart: collector up (gRPC ${grpcAddress} over mutual TLS, REST http://${httpAddress}/api/v1, OpenAPI http://${httpAddress}/api/docs)`);

// A console user holding every role, so one person can try every screen; its password is made
// once and kept beside the administrator token.
const consolePasswordFile = join(home, 'console-password');
if (!existsSync(consolePasswordFile)) {
  const password = randomBytes(18).toString('base64url');
  const created = await api('POST', '/api/v1/users', {
    username: 'admin',
    displayName: 'Quickstart administrator',
    roles: ['admin', 'security', 'approver', 'it', 'auditor'],
    password,
  });
  if (created?.statusCode === 409) {
    // The user outlived its password file: a new password is set instead of guessing the old one.
    await api('POST', `/api/v1/users/${(await api('GET', '/api/v1/users')).items.find((user) => user.username === 'admin').id}/password`, { password });
  }
  writeFileSync(consolePasswordFile, `${password}\n`, { mode: 0o600 });
}

// The company-issued stick of the demo; the other storage stick in the script is a personal one.
await api('POST', '/api/v1/usb-register', {
  vendorId: '0781', productId: '5567', serial: '4C530001231120115142', label: 'Demo issued stick', holder: 'Demo User', department: 'Demo',
});

const enrolled = spawnSync(process.execPath, [agentBin, 'status', '--state-dir', agentState], { stdio: 'ignore' }).status === 0;
if (!enrolled) {
  const { token } = await api('POST', '/api/v1/enrollment-tokens', { label: 'quickstart', maxUses: 1, expiresInSeconds: 600 });
  const result = spawnSync(process.execPath, [agentBin, 'enroll', '--server', grpcAddress, '--token', token, '--state-dir', agentState], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('quickstart: enrollment failed');
    stop(1);
  }
}
if (!existsSync(usbScript)) copyFileSync(join(root, 'deploy/quickstart/demo-usb.jsonl'), usbScript);

const agent = start('mamori-agent', agentBin, ['run', '--state-dir', agentState], {
  MAMORI_AGENT_USB_BACKEND: 'fake',
  MAMORI_AGENT_FAKE_USB_SCRIPT: usbScript,
});
await waitForLine(agent, /"msg":"mamori-agent running"/, '[agent]');

console.log(`quickstart: agent enrolled and running (state in ${agentState}); it replays fake USB devices from ${usbScript}`);
console.log(`quickstart: console http://${httpAddress}/ — sign in as "admin" with the password in ${consolePasswordFile}`);
console.log('quickstart: try, in another terminal:');
console.log(`  curl -s -H "Authorization: Bearer $(cat ${tokenFile})" http://${httpAddress}/api/v1/violations`);
console.log(`  node ${agentBin} status --state-dir ${agentState}`);
console.log(`  echo '{"op":"attach","device":{"vendorId":"abcd","productId":"1234","serial":"X1","interfaceClasses":[8],"busPath":"2-1"}}' >> ${usbScript}`);
console.log('quickstart: Ctrl-C stops both.');
