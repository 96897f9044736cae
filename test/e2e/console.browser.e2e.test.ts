import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { launchBrowser, openPage, saveScreenshot } from '../support/browser';
import { AgentUnderTest, CollectorUnderTest, attachLine } from './support/cluster';
import { eventually } from './support/rest-client';

// The console as its users meet it: real headless Chromium (Debian's, driven by playwright-core)
// against a real collector process that serves the console itself, with a real agent process
// whose (fake-backend) USB stick raises the violation the reviewer sees arrive live.

const PASSWORD = 'correct horse battery staple';

/** The people of the test, one role each, as a company would split the work. */
const PEOPLE = [
  { username: 'sato', displayName: 'Sato Hanako', roles: ['security'] },
  { username: 'tanaka', displayName: 'Tanaka Ichiro', roles: ['admin'] },
  { username: 'suzuki', displayName: 'Suzuki Jiro', roles: ['approver'] },
  { username: 'kimura', displayName: 'Kimura Emi', roles: ['auditor'] },
  { username: 'ito', displayName: 'Ito Ken', roles: ['it'] },
];

const PERSONAL_STICK = {
  vendorId: '0781',
  productId: '5567',
  serial: 'AA00000000001234',
  manufacturer: 'Generic',
  product: 'Flash Disk',
  interfaceClasses: [8],
  busPath: '1-3',
};

async function signIn(page: Page, username: string): Promise<void> {
  await page.goto('/signin');
  await page.getByTestId('signin-username').fill(username);
  await page.getByTestId('signin-password').fill(PASSWORD);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('whoami').waitFor();
}

describe('the console in headless Chromium', () => {
  test('sign in, see a violation arrive live from a real agent, triage it, add and approve whitelist destinations, find each in the audit view', async (t) => {
    const collector = await CollectorUnderTest.start(t, 'sqlite');
    if (collector === null) return;
    const browser = await launchBrowser(t);
    if (browser === null) return;
    const baseURL = `http://127.0.0.1:${collector.httpPort}`;

    for (const person of PEOPLE) await collector.rest.expect(201, 'POST', '/api/v1/users', { ...person, password: PASSWORD });
    await collector.rest.expect(201, 'POST', '/api/v1/zones', { name: 'dev-lan', mode: 'enforce', cidrs: ['10.30.0.0/16'], dnsSuffixes: ['dev.example.co.jp'] });

    // The security reviewer signs in and finds an empty feed that says what to do next.
    const reviewer = await openPage(t, browser, { baseURL });
    await signIn(reviewer, 'sato');
    await reviewer.waitForURL('**/violations');
    await reviewer.getByTestId('violations-empty').waitFor();
    await reviewer.getByTestId('live-state').waitFor();
    // Marks this document: a reload would lose the mark, so the row below must arrive live.
    await reviewer.evaluate(() => ((globalThis as unknown as { mamoriNoReload: boolean }).mamoriNoReload = true));

    // A real agent process sees a personal stick.
    const agent = await AgentUnderTest.enroll(t, collector);
    await agent.start();
    agent.appendScript([attachLine(PERSONAL_STICK)]);
    const violation = await eventually(
      'the violation stored',
      async () => {
        const page = await collector.rest.expect<{ items: Array<{ id: string; detectedAt: string }> }>(
          200, 'GET', `/api/v1/violations?agentId=${agent.agentId}&rule=usb.unregistered_device`);
        return page.items[0];
      },
      30_000,
    );
    const storedSeenAt = Date.now();
    const row = reviewer.locator(`[data-testid="violation-row"][data-violation-id="${violation.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    const liveDelayMs = Date.now() - storedSeenAt;
    assert.equal(await reviewer.evaluate(() => (globalThis as unknown as { mamoriNoReload?: boolean }).mamoriNoReload), true, 'the feed did not reload');
    t.diagnostic(`violation row shown ${liveDelayMs} ms after the REST poll first saw it stored`);
    await saveScreenshot(reviewer, 'console-violations');

    // Triage: acknowledge, then resolve with a note.
    await row.click();
    const panel = reviewer.getByTestId('triage-panel');
    await panel.waitFor();
    await panel.getByTestId('triage-acknowledge').click();
    await eventually('acknowledged', async () => ((await panel.getByTestId('violation-status').getAttribute('data-status')) === 'acknowledged' ? true : undefined), 10_000);
    await panel.getByTestId('triage-note').fill('Personal stick: user warned, nothing was copied (checked the transfer log).');
    await panel.getByTestId('triage-resolve').click();
    await eventually('resolved', async () => ((await panel.getByTestId('violation-status').getAttribute('data-status')) === 'resolved' ? true : undefined), 10_000);
    const triaged = await collector.rest.expect<{ status: string; note: string }>(200, 'GET', `/api/v1/violations/${violation.id}`);
    assert.equal(triaged.status, 'resolved');
    assert.match(triaged.note, /user warned/);
    // The row in the feed follows, without a reload.
    await eventually('the feed row shows resolved', async () =>
      (await row.getByTestId('violation-status').getAttribute('data-status')) === 'resolved' ? true : undefined, 10_000);

    // Assign it to a reviewer the panel offers (only enabled users holding security are offered).
    const offered = await panel.getByTestId('triage-assignee-options').locator('option').evaluateAll((options) => options.map((option) => (option as { value: string }).value));
    assert.deepEqual(offered, ['sato']);
    await panel.getByTestId('triage-assignee').fill('sato');
    await panel.getByTestId('triage-assign').click();
    await eventually('assigned', async () => ((await collector.rest.expect<{ assignee: string | null }>(200, 'GET', `/api/v1/violations/${violation.id}`)).assignee === 'sato' ? true : undefined), 10_000);
    // The feed's assignee filter: "Unassigned" leaves it out, sato's list shows it, and the URL keeps the choice.
    await reviewer.getByTestId('filter-assignee').selectOption({ label: 'Unassigned' });
    await row.waitFor({ state: 'detached', timeout: 10_000 });
    assert.match(reviewer.url(), /unassigned=true/);
    await reviewer.getByTestId('filter-assignee').selectOption('sato');
    await row.waitFor({ timeout: 10_000 });
    assert.match(reviewer.url(), /assignee=sato/);

    // The full evidence: the device identity and the event trail.
    await reviewer.goto(`/violations/${violation.id}`);
    await reviewer.getByTestId('violation-identity').getByText(PERSONAL_STICK.serial).waitFor();
    await reviewer.getByTestId('trail-event').first().waitFor();
    await saveScreenshot(reviewer, 'console-violation-detail');

    // The administrator adds an entry directly and files a request.
    const admin = await openPage(t, browser, { baseURL });
    await signIn(admin, 'tanaka');
    await admin.goto('/whitelist');
    await admin.getByTestId('whitelist-add').click();
    await admin.getByTestId('whitelist-form-host').fill('git.dev.example.co.jp');
    await admin.getByTestId('whitelist-form-ports').fill('443');
    await admin.getByTestId('whitelist-form-zone').selectOption('dev-lan');
    await admin.getByTestId('whitelist-form-justification').fill('Source code hosting for the development LAN');
    await admin.getByTestId('whitelist-form-submit').click();
    await admin.locator('[data-testid="whitelist-entry-row"]', { hasText: 'git.dev.example.co.jp' }).waitFor();

    await admin.getByTestId('request-file').click();
    await admin.getByTestId('whitelist-form-host').fill('pypi.dev.example.co.jp');
    await admin.getByTestId('whitelist-form-ports').fill('443');
    await admin.getByTestId('whitelist-form-zone').selectOption('dev-lan');
    await admin.getByTestId('whitelist-form-justification').fill('Package mirror for the build servers');
    await admin.getByTestId('whitelist-form-submit').click();

    // The approver (another person) approves it.
    const approver = await openPage(t, browser, { baseURL });
    await signIn(approver, 'suzuki');
    await approver.goto('/whitelist?tab=requests');
    const request = approver.locator('[data-testid="request-row"]', { hasText: 'pypi.dev.example.co.jp' });
    await request.waitFor();
    assert.equal(await request.getAttribute('data-status'), 'pending');
    await request.getByTestId('request-approve').click();
    await approver.getByTestId('request-approve-confirm').click();
    await approver.locator('[data-testid="request-row"][data-status="approved"]', { hasText: 'pypi.dev.example.co.jp' }).waitFor();
    const entries = await collector.rest.expect<{ items: Array<{ hostPattern: string; approvedBy: string; requestedBy: string }> }>(200, 'GET', '/api/v1/whitelist');
    const approved = entries.items.find((entry) => entry.hostPattern === 'pypi.dev.example.co.jp');
    assert.ok(approved, 'the approved request became a whitelist entry');
    assert.equal(approved.requestedBy, 'tanaka');
    assert.equal(approved.approvedBy, 'suzuki');
    await admin.goto('/whitelist');
    await admin.locator('[data-testid="whitelist-entry-row"]', { hasText: 'pypi.dev.example.co.jp' }).waitFor();
    await saveScreenshot(admin, 'console-whitelist');

    // The auditor finds each change, by whom, and an intact chain.
    const auditor = await openPage(t, browser, { baseURL });
    await signIn(auditor, 'kimura');
    await auditor.goto('/audit');
    await auditor.getByTestId('audit-verify-result').waitFor();
    assert.equal(await auditor.getByTestId('audit-verify-result').getAttribute('data-intact'), 'true');
    const rows = auditor.getByTestId('audit-row');
    await rows.first().waitFor();
    const audit = (await rows.allTextContents()).join('\n');
    for (const [who, action] of [
      ['sato', 'violation.triaged'],
      ['tanaka', 'whitelist.entry.created'],
      ['tanaka', 'whitelist.request.filed'],
      ['suzuki', 'whitelist.request.approved'],
    ]) {
      assert.ok(audit.split('\n').some((line) => line.includes(who) && line.includes(action)), `the audit view shows ${action} by ${who}:\n${audit}`);
    }
    await saveScreenshot(auditor, 'console-audit');

    // IT finds the agent in the fleet.
    const it = await openPage(t, browser, { baseURL });
    await signIn(it, 'ito');
    await it.goto('/devices');
    await it.getByText(agent.agentId.slice(0, 8)).first().waitFor();
    await saveScreenshot(it, 'console-devices');

    // A Japanese browser gets the Japanese console.
    const japanese = await openPage(t, browser, { baseURL, locale: 'ja-JP' });
    await signIn(japanese, 'sato');
    await japanese.getByTestId('nav-violations').getByText('違反').waitFor();
    await saveScreenshot(japanese, 'console-violations-ja');
  });
});
