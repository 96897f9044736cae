import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, openPage, saveScreenshot } from '../support/browser';
import { AgentUnderTest, CollectorUnderTest } from './support/cluster';
import { eventually } from './support/rest-client';
import { runNodeProgram, SERVER_BIN } from '../support/processes';
import { bundleArchive } from '../support/release-archive';
import { makeTempDir } from '../support/temp-dir';

// The whitelist, USB, devices and users pages as administrators, approvers, IT and auditors use
// them: real headless Chromium against a real collector (serving the console) and a real agent.

const PASSWORD = 'correct horse battery staple';

const PEOPLE = [
  { username: 'tanaka', displayName: 'Tanaka Ichiro', roles: ['admin'] },
  { username: 'suzuki', displayName: 'Suzuki Jiro', roles: ['approver'] },
  { username: 'ito', displayName: 'Ito Ken', roles: ['it'] },
  { username: 'kimura', displayName: 'Kimura Emi', roles: ['auditor'] },
];

/** Opens a page signed in as `username`; uncaught errors in the page are collected in `errors`. */
async function signedIn(t: Parameters<typeof openPage>[0], browser: Browser, baseURL: string, username: string, errors: string[]): Promise<Page> {
  const page = await openPage(t, browser, { baseURL });
  page.on('pageerror', (error) => errors.push(`${username}: ${error.message}`));
  await page.goto('/signin');
  await page.getByTestId('signin-username').fill(username);
  await page.getByTestId('signin-password').fill(PASSWORD);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('whoami').waitFor();
  return page;
}

describe('the console pages for the whitelist, USB register, devices and users', () => {
  test('register a stick, request and approve a USB exception for a real agent, enroll with a token shown once, see capabilities, show server validation, gate buttons by role, create an API token that works', async (t) => {
    const collector = await CollectorUnderTest.start(t, 'sqlite');
    if (collector === null) return;
    const browser = await launchBrowser(t);
    if (browser === null) return;
    const baseURL = `http://127.0.0.1:${collector.httpPort}`;
    for (const person of PEOPLE) await collector.rest.expect(201, 'POST', '/api/v1/users', { ...person, password: PASSWORD });
    const errors: string[] = [];

    // An administrator finds an empty register that says what to do, and registers a stick.
    const admin = await signedIn(t, browser, baseURL, 'tanaka', errors);
    await admin.goto('/usb');
    await admin.getByTestId('usb-register-empty').waitFor();
    await admin.getByTestId('usb-register-add').click();
    await admin.getByTestId('usb-register-form-submit').click();
    // Nothing filled in: the form says which fields, before anything is sent.
    await admin.getByTestId('usb-register-form').locator('.field-error').first().waitFor();
    await admin.getByTestId('usb-register-form-vendor').fill('0x0781');
    await admin.getByTestId('usb-register-form-product').fill('5567');
    await admin.getByTestId('usb-register-form-serial').fill('AA00000000009999');
    await admin.getByTestId('usb-register-form-label').fill('Sales stick 12');
    await admin.getByTestId('usb-register-form-holder').fill('Hanako Yamada');
    await admin.getByTestId('usb-register-form-department').fill('Sales');
    await admin.getByTestId('usb-register-form-submit').click();
    await admin.locator('[data-testid="usb-register-row"]', { hasText: 'Sales stick 12' }).waitFor();
    const register = await collector.rest.expect<{ items: Array<{ vendorId: string; serial: string; holder: string; department: string }> }>(200, 'GET', '/api/v1/usb-register');
    assert.deepEqual(
      register.items.map((item) => [item.vendorId, item.serial, item.holder, item.department]),
      [['0781', 'AA00000000009999', 'Hanako Yamada', 'Sales']],
    );

    // The collector's own validation reaches the field it names.
    await admin.goto('/whitelist');
    await admin.getByTestId('whitelist-add').click();
    await admin.getByTestId('whitelist-form-host').fill('not a host name!');
    await admin.getByTestId('whitelist-form-justification').fill('typo on purpose');
    await admin.getByTestId('whitelist-form-submit').click();
    const hostError = admin.getByTestId('whitelist-form').locator('.field-error', { hasText: 'hostPattern' });
    await hostError.waitFor();
    await admin.getByTestId('whitelist-form-host').fill('git.example.co.jp');
    await admin.getByTestId('whitelist-form-submit').click();
    await admin.locator('[data-testid="whitelist-entry-row"]', { hasText: 'git.example.co.jp' }).waitFor();
    // Two versions now (the register and the entry): the newest compared with the one before shows the entry added.
    await admin.goto('/whitelist?tab=versions');
    await admin.getByTestId('policy-version-row').first().waitFor();
    await admin.getByTestId('policy-version-compare').first().click();
    const change = admin.locator('[data-testid="policy-diff-change"]', { hasText: 'network.whitelist' });
    await change.first().waitFor();
    assert.equal(await change.first().getAttribute('data-kind'), 'added');
    // The change log names the step, what it was about and who took it.
    await admin.locator('[data-testid="whitelist-history-row"][data-kind="entry.created"]', { hasText: 'git.example.co.jp' }).getByText('tanaka').waitFor();
    await saveScreenshot(admin, 'console-policy-diff');

    // IT creates an enrollment token bound to a zone: the secret and the command are shown once.
    await collector.rest.expect(201, 'POST', '/api/v1/zones', { name: 'sales-lan', mode: 'off', cidrs: ['10.30.0.0/16'] });
    const it = await signedIn(t, browser, baseURL, 'ito', errors);
    await it.goto('/devices?tab=tokens');
    await it.getByTestId('enrollment-tokens-empty').waitFor();
    await it.getByTestId('enrollment-token-create').click();
    await it.getByTestId('enrollment-token-form-label').fill('Sales laptops');
    await it.getByTestId('enrollment-token-form-uses').fill('5');
    await it.getByTestId('enrollment-token-form-zone').locator('option[value="sales-lan"]').waitFor({ state: 'attached' });
    await it.getByTestId('enrollment-token-form-zone').selectOption('sales-lan');
    await it.getByTestId('enrollment-token-form-submit').click();
    const secret = (await it.getByTestId('enrollment-token-secret').textContent()) ?? '';
    assert.ok(secret.length >= 20, `a token is shown: "${secret}"`);
    assert.match((await it.getByTestId('enrollment-token-command').textContent()) ?? '', /enroll/);
    await it.getByTestId('enrollment-token-done').click();
    await it.locator('[data-testid="enrollment-token-row"][data-state="active"]', { hasText: 'Sales laptops' }).filter({ hasText: 'sales-lan' }).waitFor();
    const listedTokens = await collector.rest.expect<{ items: Array<{ label: string; zone: string | null }> }>(200, 'GET', '/api/v1/enrollment-tokens');
    assert.deepEqual(listedTokens.items.map((token) => [token.label, token.zone]), [['Sales laptops', 'sales-lan']]);
    assert.equal(await it.getByTestId('enrollment-token-secret').count(), 0, 'the secret is gone once the dialog is closed');

    // A real agent enrolls and reports what it can enforce here.
    const agent = await AgentUnderTest.enroll(t, collector);
    await agent.start();
    await it.goto('/devices');
    const row = it.locator(`[data-testid="device-row"][data-agent-id="${agent.agentId}"]`);
    await row.waitFor({ timeout: 15_000 });
    await eventually(
      'the agent reported its capabilities',
      async () => {
        const answer = await collector.rest.expect<{ health: { capabilities?: unknown[] } | null }>(200, 'GET', `/api/v1/agents/${agent.agentId}`);
        return answer.health?.capabilities?.length ? true : undefined;
      },
      20_000,
    );
    await it.reload();
    await row.getByTestId('device-details').click();
    const capabilities = it.getByTestId('device-capabilities');
    await capabilities.waitFor();
    assert.ok((await capabilities.locator('[data-capability="usb.detect"]').count()) === 1, 'usb.detect is listed');
    await saveScreenshot(it, 'console-device-detail');
    await it.keyboard.press('Escape');

    // IT asks for an exception for a customer's stick on that laptop; an approver approves it.
    await it.goto('/usb');
    await it.getByTestId('usb-exception-request').click();
    await it.getByTestId('usb-exception-form-vendor').fill('1d6b');
    await it.getByTestId('usb-exception-form-product').fill('0104');
    await it.getByTestId('usb-exception-form-serial').fill('CUSTOMER-0042');
    await it.getByTestId('usb-exception-form-agent').selectOption(agent.agentId);
    await it.getByTestId('usb-exception-form-justification').fill('Customer workshop in Osaka, slides on their stick');
    await it.getByTestId('usb-exception-form-submit').click();
    await it.locator('[data-testid="usb-exception-row"][data-status="requested"]', { hasText: 'CUSTOMER-0042' }).waitFor();

    const approver = await signedIn(t, browser, baseURL, 'suzuki', errors);
    await approver.goto('/usb?tab=exceptions');
    const exception = approver.locator('[data-testid="usb-exception-row"]', { hasText: 'CUSTOMER-0042' });
    await exception.getByTestId('usb-exception-approve').click();
    await approver.getByTestId('usb-exception-approve-confirm').click();
    await approver.locator('[data-testid="usb-exception-row"][data-status="approved"]', { hasText: 'CUSTOMER-0042' }).waitFor();
    const exceptions = await collector.rest.expect<{ items: Array<{ serial: string; requestedBy: string; approvedBy: string; agentId: string }> }>(200, 'GET', '/api/v1/usb-exceptions');
    assert.deepEqual(
      exceptions.items.map((item) => [item.serial, item.agentId, item.requestedBy, item.approvedBy]),
      [['CUSTOMER-0042', agent.agentId, 'ito', 'suzuki']],
    );
    await saveScreenshot(approver, 'console-usb-exceptions');

    // An auditor sees the buttons they cannot use disabled, each saying the role it needs.
    const auditor = await signedIn(t, browser, baseURL, 'kimura', errors);
    await auditor.goto('/whitelist');
    const add = auditor.getByTestId('whitelist-add');
    await add.waitFor();
    assert.equal(await add.isDisabled(), true);
    assert.match((await add.getAttribute('title')) ?? '', /admin/);
    await auditor.goto('/usb');
    assert.equal(await auditor.getByTestId('usb-register-add').isDisabled(), true);

    // The auditor makes an API token for a script; it works for reading and is refused a change.
    await auditor.goto('/users');
    assert.equal(await auditor.getByTestId('users').count(), 0, 'only administrators see the users');
    await auditor.getByTestId('api-tokens-empty').waitFor();
    await auditor.getByTestId('api-token-create').click();
    await auditor.getByTestId('api-token-form-name').fill('nightly audit export');
    assert.equal(await auditor.getByTestId('api-token-form-role-admin').count(), 0, 'only roles the auditor holds are offered');
    await auditor.getByTestId('api-token-form-role-auditor').check();
    await auditor.getByTestId('api-token-form-days').fill('30');
    await auditor.getByTestId('api-token-form-submit').click();
    const token = ((await auditor.getByTestId('api-token-secret').textContent()) ?? '').trim();
    assert.match(token, /^mamori_pat_/);
    await auditor.getByTestId('api-token-done').click();
    await auditor.locator('[data-testid="api-token-row"]', { hasText: 'nightly audit export' }).waitFor();
    const read = await fetch(`${baseURL}/api/v1/audit`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(read.status, 200);
    const write = await fetch(`${baseURL}/api/v1/zones`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'lab', mode: 'audit' }),
    });
    assert.equal(write.status, 403);

    // The administrator says which zone the laptop must be in.
    await collector.rest.expect(201, 'POST', '/api/v1/zones', { name: 'office', mode: 'audit', cidrs: ['10.9.0.0/16'] });
    await admin.goto('/devices');
    await admin.locator(`[data-testid="device-row"][data-agent-id="${agent.agentId}"]`).getByTestId('device-details').click();
    await admin.getByTestId('device-required-zone').selectOption('office');
    await admin.getByTestId('device-required-zone-save').click();
    await eventually('the required zone stored', async () => {
      const stored = await collector.rest.expect<{ requiredZone: string | null }>(200, 'GET', `/api/v1/agents/${agent.agentId}`);
      return stored.requiredZone === 'office' ? true : undefined;
    }, 10_000);
    await admin.keyboard.press('Escape');

    // IT stores an agent bundle on the collector and makes it the fleet's target in the console;
    // the running agent is then not on target. Clearing the target puts it back. An auditor sees
    // the versions but cannot change the target.
    const releaseDir = makeTempDir('mamori-console-release-');
    t.after(() => releaseDir.cleanup());
    const bundle = bundleArchive(releaseDir.path, '9.9.9');
    const stored = await runNodeProgram(SERVER_BIN, ['release', 'add', bundle.file], collector.env);
    assert.equal(stored.code, 0, stored.stderr);
    await it.goto('/devices?tab=versions');
    await it.locator('[data-testid="agent-release-row"][data-version="9.9.9"][data-platform="linux-x64"]').waitFor();
    await it.locator(`[data-testid="agent-version-row"][data-agent-id="${agent.agentId}"][data-on-target="true"]`).waitFor();
    await it.getByTestId('agent-release-choose').selectOption('9.9.9');
    await it.getByTestId('agent-release-set').click();
    await it.getByTestId('agent-release-target-change-confirm').click();
    await it.getByTestId('agent-release-target-version').getByText('9.9.9').waitFor();
    await it.locator(`[data-testid="agent-version-row"][data-agent-id="${agent.agentId}"][data-on-target="false"]`).waitFor();
    const targeted = await collector.rest.expect<{ target: { version: string } | null }>(200, 'GET', '/api/v1/agent-releases');
    assert.equal(targeted.target?.version, '9.9.9');
    await saveScreenshot(it, 'console-agent-versions');
    const viewer = await signedIn(t, browser, baseURL, 'kimura', errors);
    await viewer.goto('/devices?tab=versions');
    await viewer.getByTestId('agent-release-target-version').getByText('9.9.9').waitFor();
    assert.equal(await viewer.getByTestId('agent-release-set').isDisabled(), true, 'an auditor cannot set the target');
    await it.getByTestId('agent-release-clear').click();
    await it.getByTestId('agent-release-target-change-confirm').click();
    await it.locator(`[data-testid="agent-version-row"][data-agent-id="${agent.agentId}"][data-on-target="true"]`).waitFor();
    assert.equal((await collector.rest.expect<{ target: unknown }>(200, 'GET', '/api/v1/agent-releases')).target, null);

    // The administrator adds a bundle from the browser; IT may not (it runs on every laptop once
    // targeted). A file that is not a bundle is refused with the collector's reason.
    assert.equal(await it.getByTestId('agent-release-upload-button').getAttribute('data-needs-role'), 'admin', 'IT cannot upload bundles');
    await admin.goto('/devices?tab=versions');
    assert.equal(await admin.getByTestId('agent-release-upload-button').getAttribute('data-needs-role'), null, 'an administrator may');
    await admin.getByTestId('agent-release-file').setInputFiles({ name: 'mamori-agent-9.9.10-linux-x64.tar.gz', mimeType: 'application/gzip', buffer: Buffer.from('not a bundle') });
    await admin.getByTestId('agent-release-upload-button').click();
    await admin.getByTestId('agent-release-upload-error').getByText(/not a gzip-compressed archive/).waitFor();
    const upgrade = bundleArchive(releaseDir.path, '9.9.10');
    await admin.getByTestId('agent-release-file').setInputFiles(upgrade.file);
    await admin.getByTestId('agent-release-upload-button').click();
    await admin.getByTestId('agent-release-uploaded').getByText('9.9.10').waitFor();
    await admin.locator('[data-testid="agent-release-row"][data-version="9.9.10"][data-platform="linux-x64"]').waitFor();
    const uploaded = await collector.rest.expect<{ items: Array<{ version: string; sha256: string; uploadedBy: string }> }>(200, 'GET', '/api/v1/agent-releases');
    const stored10 = uploaded.items.find((item) => item.version === '9.9.10');
    assert.equal(stored10?.sha256, createHash('sha256').update(upgrade.bytes).digest('hex'), 'the stored bytes are the file chosen in the browser');
    assert.equal(stored10?.uploadedBy, 'tanaka');

    // The administrator sees every user with their roles.
    await admin.goto('/users');
    await admin.getByTestId('users').waitFor();
    await admin.locator('[data-testid="user-row"][data-username="suzuki"]', { hasText: 'approver' }).waitFor();
    await saveScreenshot(admin, 'console-users');

    // A Japanese browser gets these pages in Japanese.
    const japanese = await openPage(t, browser, { baseURL, locale: 'ja-JP' });
    japanese.on('pageerror', (error) => errors.push(`ja: ${error.message}`));
    await japanese.goto('/signin');
    await japanese.getByTestId('signin-username').fill('suzuki');
    await japanese.getByTestId('signin-password').fill(PASSWORD);
    await japanese.getByTestId('signin-submit').click();
    await japanese.getByTestId('whoami').waitFor();
    await japanese.goto('/usb?tab=exceptions');
    await japanese.getByTestId('usb-tab-exceptions').getByText('例外').waitFor();
    await japanese.locator('[data-testid="usb-exception-row"]', { hasText: 'CUSTOMER-0042' }).getByText('有効').waitFor();
    await saveScreenshot(japanese, 'console-usb-exceptions-ja');

    assert.deepEqual(errors, [], 'no page threw');
  });
});
