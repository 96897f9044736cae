import { useMemo, useState } from 'react';
import { useSession } from '../../session';
import { api, useApi } from '../../api/client';
import { useLanguage, useMessages } from '../../i18n';
import { Button, Dialog, EmptyState, ErrorBanner, Field, formatAge, formatTime, StatusBadge, Table, type Column } from '../../ui';
import { ReasonDialog } from '../shared/components';
import { matchesQuery } from '../shared/forms';
import {
  capabilitiesOf,
  capabilityAreas,
  capabilityCounts,
  contactState,
  factsOf,
  ledgerByAgent,
  policyStanding,
  postureOf,
  postureVerdict,
  type Agent,
  type LedgerDevice,
} from './devices-model';
import { messages } from './messages';
import './devices.css';

/** The enrolled agents joined with their ledger rows; details and revoke (it). */
export function AgentsTab({ onEnroll }: { onEnroll: () => void }) {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  const agents = useApi<{ items: Agent[] }>('/agents');
  const ledger = useApi<{ items: LedgerDevice[] }>('/ledger/devices?limit=500');
  const policy = useApi<{ version: number }>('/policy');
  const [q, setQ] = useState('');
  const [status, setStatus] = useState('enrolled');
  const [posture, setPosture] = useState('all');
  const [shown, setShown] = useState<Agent | null>(null);
  const [revoking, setRevoking] = useState<Agent | null>(null);
  const byAgent = useMemo(() => ledgerByAgent(ledger.data?.items ?? []), [ledger.data]);
  const currentVersion = policy.data?.version ?? null;
  const now = new Date();

  const rows = (agents.data?.items ?? []).filter((agent) => {
    if (status !== 'all' && agent.status !== status) return false;
    if (posture !== 'all' && postureVerdict(postureOf(agent.posture)) !== posture) return false;
    const row = byAgent.get(agent.id);
    return matchesQuery(q, agent.hostname, row?.holder, row?.department, row?.assetTag, factsOf(agent).serial, agent.id);
  });
  const filtered = q.trim() !== '' || status !== 'enrolled' || posture !== 'all';

  const columns: Column<Agent>[] = [
    {
      key: 'host',
      header: t.col.host,
      render: (agent) => (
        <>
          <strong>{agent.hostname}</strong>
          <span className="cell-sub">
            <code title={agent.id}>{agent.id.slice(0, 8)}</code>
            {factsOf(agent).os ? ` · ${factsOf(agent).os}` : ''}
          </span>
        </>
      ),
    },
    {
      key: 'ledger',
      header: t.col.ledger,
      render: (agent) => {
        const row = byAgent.get(agent.id);
        if (!row || !row.inLedger) return <span className="muted">{t.notInLedger}</span>;
        return (
          <>
            {row.holder || '—'}
            <span className="cell-sub">
              {row.department}
              {row.assetTag ? ` · ${row.assetTag}` : ''}
            </span>
          </>
        );
      },
    },
    {
      key: 'posture',
      header: t.col.posture,
      render: (agent) => {
        const verdict = postureVerdict(postureOf(agent.posture));
        return <StatusBadge status={verdict === 'passed' ? 'ok' : verdict === 'failed' ? 'high' : 'info'} label={t.postures[verdict]} testId="device-posture" />;
      },
    },
    {
      key: 'capabilities',
      header: t.col.capabilities,
      render: (agent) => {
        const capabilities = capabilitiesOf(agent.health);
        if (capabilities.length === 0) return <span className="muted">{t.noCapabilities}</span>;
        const counts = capabilityCounts(capabilities);
        return (
          <span title={capabilities.map((c) => `${c.available ? '✓' : '✗'} ${c.name}${c.reason ? ` (${c.reason})` : ''}`).join('\n')}>
            {t.capabilityCount(counts.available, counts.total)}
          </span>
        );
      },
    },
    {
      key: 'policy',
      header: t.col.policy,
      className: 'nowrap',
      render: (agent) => {
        const standing = policyStanding(agent.policyVersion, currentVersion);
        if (standing === 'none') return <span className="muted">{t.policyNone}</span>;
        return (
          <>
            {t.policyVersion(agent.policyVersion)}
            {standing === 'behind' && currentVersion !== null ? <span className="cell-sub device-warn">{t.policyBehind(currentVersion)}</span> : null}
            {standing === 'current' ? <span className="cell-sub">{t.policyCurrent}</span> : null}
          </>
        );
      },
    },
    {
      key: 'zone',
      header: t.col.zone,
      render: (agent) => (
        <>
          {agent.reportedZone || <span className="muted">{t.zoneNone}</span>}
          {agent.requiredZone ? <span className={agent.requiredZone !== agent.reportedZone ? 'cell-sub device-warn' : 'cell-sub'}>{agent.requiredZone !== agent.reportedZone ? t.zoneWrong : t.zoneRequired(agent.requiredZone)}</span> : null}
        </>
      ),
    },
    {
      key: 'lastSeen',
      header: t.col.lastSeen,
      className: 'nowrap',
      render: (agent) => {
        const row = byAgent.get(agent.id);
        const state = row ? (agent.lastSeenAt === null ? 'never' : row.silent ? 'silent' : 'recent') : contactState(agent.lastSeenAt, now);
        if (agent.lastSeenAt === null) return <span className="muted">{t.never}</span>;
        return (
          <>
            <span title={formatTime(agent.lastSeenAt, lang)}>{formatAge(agent.lastSeenAt, now.getTime(), lang)}</span>
            {state === 'silent' && agent.status === 'enrolled' ? <span className="cell-sub device-warn">{t.silent}</span> : null}
          </>
        );
      },
    },
    { key: 'status', header: t.col.status, render: (agent) => <StatusBadge status={agent.status} label={t.statuses[agent.status] ?? agent.status} /> },
    {
      key: 'actions',
      header: '',
      className: 'cell-actions',
      render: (agent) => (
        <>
          <Button variant="quiet" onClick={() => setShown(agent)} data-testid="device-details">
            {t.details}
          </Button>
          {agent.status === 'enrolled' ? (
            <Button variant="danger" requires={['it']} onClick={() => setRevoking(agent)} data-testid="device-revoke">
              {t.revoke}
            </Button>
          ) : null}
        </>
      ),
    },
  ];

  return (
    <>
      <div className="filters">
        <Field label={t.search}>
          <input type="search" value={q} placeholder={t.searchPlaceholder} onChange={(event) => setQ(event.target.value)} data-testid="device-search" />
        </Field>
        <Field label={t.status}>
          <select value={status} onChange={(event) => setStatus(event.target.value)} data-testid="device-status-filter">
            {['enrolled', 'revoked', 'all'].map((value) => (
              <option key={value} value={value}>
                {t.statuses[value]}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t.posture}>
          <select value={posture} onChange={(event) => setPosture(event.target.value)} data-testid="device-posture-filter">
            {['all', 'failed', 'unknown', 'passed'].map((value) => (
              <option key={value} value={value}>
                {t.postures[value]}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorBanner error={agents.error} onRetry={agents.reload} />
      <ErrorBanner error={ledger.error} onRetry={ledger.reload} />
      {agents.data ? (
        <Table
          testId="devices"
          columns={columns}
          rows={rows}
          rowKey={(agent) => agent.id}
          rowProps={(agent) => ({ 'data-testid': 'device-row', 'data-agent-id': agent.id, 'data-status': agent.status })}
          empty={
            filtered && (agents.data.items.length ?? 0) > 0 ? (
              <EmptyState title={t.emptyAgentsFiltered} testId="devices-empty" />
            ) : (
              <EmptyState
                title={t.emptyAgents}
                testId="devices-empty"
                action={
                  <Button variant="primary" requires={['it']} onClick={onEnroll}>
                    {t.tokens.create}
                  </Button>
                }
              >
                <p>{t.emptyAgentsNext}</p>
              </EmptyState>
            )
          }
        />
      ) : null}
      <AgentDetail
        agent={shown}
        ledger={shown ? byAgent.get(shown.id) : undefined}
        onClose={() => setShown(null)}
        onChanged={(agent) => {
          setShown(agent);
          agents.reload();
        }}
      />
      <ReasonDialog
        open={revoking !== null}
        title={revoking ? t.revokeTitle(revoking.hostname) : ''}
        intro={<p>{t.revokeIntro}</p>}
        confirmLabel={t.revoke}
        requires={['it']}
        withReason={false}
        testIdPrefix="device-revoke"
        onClose={() => setRevoking(null)}
        onConfirm={async () => {
          await api.send('POST', `/agents/${revoking!.id}/revoke`);
          agents.reload();
          ledger.reload();
        }}
      />
    </>
  );
}

function text(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'object' && value !== null && 'seconds' in value) {
    const seconds = Number((value as { seconds: unknown }).seconds);
    return Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : '—';
  }
  return String(value);
}

function AgentDetail({ agent, ledger, onClose, onChanged }: { agent: Agent | null; ledger: LedgerDevice | undefined; onClose: () => void; onChanged: (agent: Agent) => void }) {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  if (agent === null) return <Dialog open={false} title="" onClose={onClose} />;
  const facts = factsOf(agent);
  const posture = postureOf(agent.posture);
  const areas = capabilityAreas(capabilitiesOf(agent.health));
  const health = agent.health ?? {};
  const sources = Array.isArray(health.sources) ? (health.sources as unknown[]).map(String) : [];
  const d = t.detail;
  return (
    <Dialog open title={agent.hostname} onClose={onClose} testId="device-detail">
      <div className="dialog-wide device-detail">
        <section>
          <h3>{d.facts}</h3>
          <dl className="facts">
            <dt>{d.os}</dt>
            <dd>{facts.os || '—'}</dd>
            <dt>{d.agentVersion}</dt>
            <dd>{facts.agentVersion || '—'}</dd>
            <dt>{d.hardware}</dt>
            <dd>{[facts.hardware, facts.architecture].filter(Boolean).join(' · ') || '—'}</dd>
            <dt>{d.serial}</dt>
            <dd>{facts.serial || '—'}</dd>
            <dt>{d.users}</dt>
            <dd>{facts.users.join(', ') || '—'}</dd>
            <dt>{d.agentId}</dt>
            <dd>
              <code>{agent.id}</code>
            </dd>
            <dt>{d.enrolledAt}</dt>
            <dd>{formatTime(agent.enrolledAt, lang)}</dd>
            <dt>{d.certificate}</dt>
            <dd>{formatTime(agent.certificateExpiresAt, lang)}</dd>
            <dt>{d.reportedZone}</dt>
            <dd>{agent.reportedZone || t.zoneNone}</dd>
            <dt>{d.requiredZone}</dt>
            <dd>
              <RequiredZone agent={agent} onChanged={onChanged} />
            </dd>
          </dl>
        </section>
        <section>
          <h3>{d.ledger}</h3>
          {ledger && ledger.inLedger ? (
            <dl className="facts">
              <dt>{d.assetTag}</dt>
              <dd>{ledger.assetTag ?? '—'}</dd>
              <dt>{d.holder}</dt>
              <dd>{ledger.holder || '—'}</dd>
              <dt>{d.department}</dt>
              <dd>{ledger.department || '—'}</dd>
              <dt>{d.ledgerStatus}</dt>
              <dd>{ledger.status ?? '—'}</dd>
              <dt>{d.dueBack}</dt>
              <dd>
                {ledger.dueBack ?? '—'} {ledger.overdue ? <StatusBadge status="high" label={d.overdue} /> : null}
              </dd>
              <dt>{d.note}</dt>
              <dd>{ledger.note || '—'}</dd>
            </dl>
          ) : (
            <p className="muted">{t.notInLedger}</p>
          )}
        </section>
        <section>
          <h3>{d.posture}</h3>
          {posture ? (
            <dl className="facts">
              <dt>{d.fixedDisks}</dt>
              <dd>{d.outcomes[posture.fixedDisksEncrypted]}</dd>
              <dt>{d.systemVolume}</dt>
              <dd>{d.outcomes[posture.systemVolumeEncrypted]}</dd>
              <dt>{d.usbAttached}</dt>
              <dd>
                {posture.usbStorageDevicesAttached} ({d.usbUnregistered}: {posture.unregisteredUsbStorageDevices})
              </dd>
              {ledger && ledger.encryption.findings.length > 0 ? (
                <>
                  <dt>{d.findings}</dt>
                  <dd>{ledger.encryption.findings.join('; ')}</dd>
                </>
              ) : null}
            </dl>
          ) : (
            <p className="muted">{t.postures.unknown}</p>
          )}
        </section>
        <section>
          <h3>{d.capabilities}</h3>
          {areas.length === 0 ? (
            <p className="muted">{d.noCapabilities}</p>
          ) : (
            <ul className="capabilities" data-testid="device-capabilities">
              {areas.flatMap((area) =>
                area.capabilities.map((capability) => (
                  <li key={capability.name} className={capability.available ? 'capability-on' : 'capability-off'} data-capability={capability.name} data-available={String(capability.available)}>
                    <code>{capability.name}</code> — {capability.available ? d.available : d.unavailable}
                    {capability.reason ? <span className="cell-sub">{capability.reason}</span> : null}
                  </li>
                )),
              )}
            </ul>
          )}
        </section>
        <section>
          <h3>{d.health}</h3>
          <dl className="facts">
            <dt>{t.col.policy}</dt>
            <dd>{agent.policyVersion > 0 ? t.policyVersion(agent.policyVersion) : t.policyNone}</dd>
            <dt>{d.spool}</dt>
            <dd>{text(health.spoolEvents)}</dd>
            <dt>{d.dropped}</dt>
            <dd>{text(health.droppedEvents)}</dd>
            <dt>{d.sources}</dt>
            <dd>{sources.join(', ') || '—'}</dd>
            <dt>{d.startedAt}</dt>
            <dd>{health.startedAt ? formatTime(text(health.startedAt), lang) : '—'}</dd>
          </dl>
        </section>
      </div>
    </Dialog>
  );
}

/** The zone the device must be in (network.wrong_zone when it is elsewhere); admin sets it. */
function RequiredZone({ agent, onChanged }: { agent: Agent; onChanged: (agent: Agent) => void }) {
  const t = useMessages(messages);
  const session = useSession();
  const zones = useApi<{ items: Array<{ name: string }> }>(session.hasRole('admin') ? '/zones' : null);
  const [value, setValue] = useState(agent.requiredZone ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  if (!session.hasRole('admin')) return <>{agent.requiredZone ?? t.detail.noRequiredZone}</>;
  const save = async () => {
    setBusy(true);
    setError(undefined);
    try {
      onChanged(await api.send<Agent>('PATCH', `/agents/${agent.id}/required-zone`, { zone: value === '' ? null : value }));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <div className="button-row">
        <select value={value} onChange={(event) => setValue(event.target.value)} aria-label={t.detail.requiredZone} data-testid="device-required-zone">
          <option value="">{t.detail.noRequiredZone}</option>
          {(zones.data?.items ?? []).map((zone) => (
            <option key={zone.name} value={zone.name}>
              {zone.name}
            </option>
          ))}
        </select>
        <Button requires={['admin']} busy={busy} disabled={value === (agent.requiredZone ?? '')} onClick={() => void save()} data-testid="device-required-zone-save">
          {t.detail.setZone}
        </Button>
      </div>
      <ErrorBanner error={error ?? zones.error} />
    </>
  );
}
