/**
 * /devices — the enrolled agents with posture, ledger fields, what each can enforce on its
 * platform, the policy version it runs, its zone and when it was last heard; enrollment tokens;
 * and the agents' versions against the fleet's target version (upgrades).
 *
 * Test hooks (data-testid):
 *   devices-tab-agents | devices-tab-tokens | devices-tab-versions   the tabs (also ?tab=agents|tokens|versions)
 *   device-search, device-status-filter, device-posture-filter
 *   device-row (data-agent-id, data-status), device-posture, device-details → device-detail,
 *     device-capabilities (li data-capability, data-available)
 *   device-revoke (it) → device-revoke-dialog, device-revoke-confirm
 *   enrollment-token-create (it) → enrollment-token-form, enrollment-token-form-label | -uses | -hours | -submit,
 *     then enrollment-token-created with enrollment-token-secret, enrollment-token-command,
 *     enrollment-token-ca-pin (each with a "-copy" button), enrollment-token-done
 *   enrollment-token-row (data-token-id, data-state), enrollment-token-state, enrollment-token-revoke
 *     → enrollment-token-revoke-confirm
 *   agent-release-target (agent-release-target-version), agent-release-choose, agent-release-set |
 *     agent-release-clear (admin, it) → agent-release-target-change-confirm; agent-release-row
 *     (data-version, data-platform), agent-releases-empty; agent-version-row (data-agent-id,
 *     data-on-target), agent-version-state
 */
import { useState } from 'react';
import { useMessages } from '../../i18n';
import { Button, Page } from '../../ui';
import { Tabs, useTab } from '../shared/components';
import { AgentsTab } from './AgentsTab';
import { messages } from './messages';
import { TokensTab } from './TokensTab';
import { VersionsTab } from './VersionsTab';

const TABS = ['agents', 'tokens', 'versions'] as const;
type Tab = (typeof TABS)[number];

export function DevicesPage() {
  const t = useMessages(messages);
  const [tab, setTab] = useTab<Tab>(TABS, 'agents');
  const [creating, setCreating] = useState(false);
  const create = () => {
    setTab('tokens');
    setCreating(true);
  };
  return (
    <Page
      title={t.title}
      subtitle={t.subtitle}
      testId="devices-page"
      actions={
        <Button variant="primary" requires={['it']} onClick={create} data-testid="enrollment-token-create">
          {t.tokens.create}
        </Button>
      }
    >
      <Tabs
        testIdPrefix="devices-tab"
        current={tab}
        onSelect={setTab}
        tabs={[
          { key: 'agents', label: t.tabs.agents },
          { key: 'tokens', label: t.tabs.tokens },
          { key: 'versions', label: t.tabs.versions },
        ]}
      />
      {tab === 'agents' ? <AgentsTab onEnroll={create} /> : null}
      {tab === 'tokens' ? <TokensTab creating={creating} onCreate={create} onCreateDone={() => setCreating(false)} /> : null}
      {tab === 'versions' ? <VersionsTab /> : null}
    </Page>
  );
}
