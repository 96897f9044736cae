/**
 * /whitelist — destinations devices may reach (CONTROLS.md C3), the requests for new ones, the
 * network zones and the policy versions with their differences.
 *
 * Test hooks (data-testid):
 *   whitelist-tab-entries | -requests | -zones | -versions   the tabs (also ?tab=entries|requests|zones|versions)
 *   whitelist-add                 "Add entry" (admin)            → dialog whitelist-form
 *   request-file                  "Request a destination" (admin, it, security) → dialog whitelist-form
 *   whitelist-form-kind-host | -kind-cidr, whitelist-form-host, whitelist-form-cidr, whitelist-form-ports,
 *   whitelist-form-protocol, whitelist-form-service, whitelist-form-zone, whitelist-form-expires,
 *   whitelist-form-justification, whitelist-form-submit        the entry / request form
 *   whitelist-search, whitelist-status-filter, whitelist-zone-filter, whitelist-more
 *   whitelist-entry-row (data-entry-id, data-status), whitelist-entry-edit, whitelist-entry-expire
 *     → whitelist-expire-dialog, whitelist-expire-reason, whitelist-expire-confirm
 *   request-status-filter, request-row (data-request-id, data-status), request-status
 *   request-approve → request-approve-dialog, request-approve-expires (optional earlier end), request-approve-confirm
 *   request-reject  → request-reject-dialog, request-reject-reason, request-reject-confirm
 *   request-withdraw → request-withdraw-dialog, request-withdraw-reason, request-withdraw-confirm
 *   zone-add, zone-row (data-zone), zone-edit, zone-delete, zone-form, zone-form-name | -mode | -cidrs |
 *   -suffixes | -position | -submit, zone-delete-confirm
 *   policy-version-row (data-version), policy-version-compare, policy-diff-from, policy-diff-to,
 *   policy-diff-show, policy-diff, policy-diff-change (data-kind)
 *   form-problems (server messages that name no field of the form), error-banner
 */
import { useState } from 'react';
import { useApi } from '../../api/client';
import { useMessages } from '../../i18n';
import { Button, Page } from '../../ui';
import { Tabs, useTab } from '../shared/components';
import { DestinationDialog, type DestinationDialogMode } from './DestinationDialog';
import { EntriesTab } from './EntriesTab';
import { messages } from './messages';
import { RequestsTab } from './RequestsTab';
import { VersionsTab } from './VersionsTab';
import type { NetworkZone, Page as ListPage, WhitelistRequest } from './whitelist-model';
import { ZonesTab } from './ZonesTab';

const TABS = ['entries', 'requests', 'zones', 'versions'] as const;
type Tab = (typeof TABS)[number];

export function WhitelistPage() {
  const t = useMessages(messages);
  const [tab, setTab] = useTab<Tab>(TABS, 'entries');
  const [dialog, setDialog] = useState<DestinationDialogMode | null>(null);
  const [generation, setGeneration] = useState(0);
  const zones = useApi<{ items: NetworkZone[] }>('/zones');
  const pending = useApi<ListPage<WhitelistRequest>>('/whitelist/requests?status=pending&limit=200');
  const changed = () => {
    setGeneration((n) => n + 1);
    pending.reload();
    zones.reload();
  };
  const pendingCount = pending.data?.items.length ?? 0;

  return (
    <Page
      title={t.title}
      subtitle={t.subtitle}
      testId="whitelist-page"
      actions={
        <>
          <Button requires={['admin', 'it', 'security']} onClick={() => setDialog({ kind: 'request' })} data-testid="request-file">
            {t.fileRequest}
          </Button>
          <Button variant="primary" requires={['admin']} onClick={() => setDialog({ kind: 'add' })} data-testid="whitelist-add">
            {t.add}
          </Button>
        </>
      }
    >
      <Tabs
        testIdPrefix="whitelist-tab"
        current={tab}
        onSelect={setTab}
        tabs={[
          { key: 'entries', label: t.tabs.entries },
          { key: 'requests', label: t.tabs.requests, count: pendingCount },
          { key: 'zones', label: t.tabs.zones },
          { key: 'versions', label: t.tabs.versions },
        ]}
      />
      {tab === 'entries' ? (
        <EntriesTab
          zones={zones.data?.items ?? []}
          generation={generation}
          onAdd={() => setDialog({ kind: 'add' })}
          onRequest={() => setDialog({ kind: 'request' })}
          onEdit={(entry) => setDialog({ kind: 'edit', entry })}
          onChanged={changed}
        />
      ) : null}
      {tab === 'requests' ? <RequestsTab generation={generation} onRequest={() => setDialog({ kind: 'request' })} onChanged={changed} /> : null}
      {tab === 'zones' ? <ZonesTab zones={zones.data?.items} error={zones.error} reload={changed} /> : null}
      {tab === 'versions' ? <VersionsTab /> : null}
      <DestinationDialog
        mode={dialog}
        zones={zones.data?.items ?? []}
        onClose={() => setDialog(null)}
        onDone={(what) => {
          setDialog(null);
          changed();
          setTab(what === 'request' ? 'requests' : 'entries');
        }}
      />
    </Page>
  );
}
