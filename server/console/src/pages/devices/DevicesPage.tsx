/**
 * /devices — the enrolled agents with posture, ledger fields, what each can enforce on its
 * platform, the policy version it runs, its zone and when it was last heard; and enrollment tokens.
 *
 * Test hooks (data-testid):
 *   devices-tab-agents | devices-tab-tokens        the tabs (also ?tab=agents|tokens)
 *   device-search, device-status-filter, device-posture-filter
 *   device-row (data-agent-id, data-status), device-posture, device-details → device-detail,
 *     device-capabilities (li data-capability, data-available)
 *   device-revoke (it) → device-revoke-dialog, device-revoke-confirm
 *   enrollment-token-create (it) → enrollment-token-form, enrollment-token-form-label | -uses | -hours | -submit,
 *     then enrollment-token-created with enrollment-token-secret, enrollment-token-command,
 *     enrollment-token-ca-pin (each with a "-copy" button), enrollment-token-done
 *   enrollment-token-row (data-token-id, data-state), enrollment-token-state, enrollment-token-revoke
 *     → enrollment-token-revoke-confirm
 */
import { useState } from 'react';
import { useMessages } from '../../i18n';
import { Button, Page } from '../../ui';
import { Tabs, useTab } from '../shared/components';
import { AgentsTab } from './AgentsTab';
import { messages } from './messages';
import { TokensTab } from './TokensTab';

const TABS = ['agents', 'tokens'] as const;
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
        ]}
      />
      {tab === 'agents' ? <AgentsTab onEnroll={create} /> : null}
      {tab === 'tokens' ? <TokensTab creating={creating} onCreate={create} onCreateDone={() => setCreating(false)} /> : null}
    </Page>
  );
}
