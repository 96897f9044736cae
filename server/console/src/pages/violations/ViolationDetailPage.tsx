import { useEffect, useState, type ReactNode } from 'react';
import { ApiError, api, useApi } from '../../api/client';
import type { Agent, AuditRecord, DestinationSubject, MachineSubject, Page as ApiPage, Transfer, TrailEvent, UsbSubject, UserDaySubject, Violation, ViolationTrail } from '../../api/types';
import { useLanguage, useMessages } from '../../i18n';
import { formatBytes } from '../../lib/format';
import { Link } from '../../router';
import { EmptyState, ErrorBanner, Page, StatusBadge, formatTime } from '../../ui';
import { messages } from './messages';
import { TriagePanel } from './TriagePanel';
import { useViolationStream } from './useViolationStream';

type T = (typeof messages)['en'];

/** /violations/:id — the whole violation: identity, evidence, enforcement, policy, triage and the trail. */
export function ViolationDetailPage({ id }: { id: string }) {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  const loaded = useApi<Violation>(`/violations/${encodeURIComponent(id)}`);
  const trail = useApi<ViolationTrail>(`/violations/${encodeURIComponent(id)}/trail`);
  const [violation, setViolation] = useState<Violation | undefined>(undefined);
  useEffect(() => setViolation(loaded.data), [loaded.data]);

  // Changes made elsewhere (another reviewer) show here too.
  useViolationStream(
    (changed) => {
      if (changed.id !== id) return;
      setViolation(changed);
      trail.reload();
    },
    () => {
      loaded.reload();
      trail.reload();
    },
  );

  if (loaded.error instanceof ApiError && (loaded.error.status === 404 || loaded.error.status === 400)) {
    return (
      <Page title={t.title}>
        <EmptyState title={t.detail.notFound(id)} action={<Link to="/violations">{t.detail.back}</Link>}>
          {loaded.error.message}
        </EmptyState>
      </Page>
    );
  }
  if (!violation) {
    return (
      <Page title={t.title}>
        <ErrorBanner error={loaded.error} onRetry={loaded.reload} />
        {!loaded.error ? <p className="muted">…</p> : null}
      </Page>
    );
  }

  const v = violation;
  return (
    <Page
      title={t.rules[v.rule] ?? v.rule}
      subtitle={
        <>
          <Link to="/violations" data-testid="violation-back">
            {t.detail.back}
          </Link>
        </>
      }
      actions={<StatusBadge status={v.severity} label={t.severities[v.severity] ?? v.severity} />}
      testId="violation-detail"
    >
      <div className="grid-2">
        <section className="panel" data-testid="violation-overview" data-violation-id={v.id}>
          <h2>{t.detail.overview}</h2>
          <dl className="facts">
            <Fact label={t.detail.summary}>{v.summary}</Fact>
            <Fact label={t.detail.rule}>
              <span className="mono">{v.rule}</span>
            </Fact>
            <Fact label={t.detail.severity}>{t.severities[v.severity] ?? v.severity}</Fact>
            <Fact label={t.detail.status}>
              <StatusBadge status={v.status} label={t.statuses[v.status] ?? v.status} />
            </Fact>
            <Fact label={t.detail.assignee}>{v.assignee ?? t.unassigned}</Fact>
            <Fact label={t.detail.occurredAt}>{formatTime(v.occurredAt, lang)}</Fact>
            <Fact label={t.detail.detectedAt}>{formatTime(v.detectedAt, lang)}</Fact>
            <Fact label={t.detail.updatedAt}>{formatTime(v.updatedAt, lang)}</Fact>
            <Fact label={t.detail.host}>{v.hostname || '—'}</Fact>
            <Fact label={t.detail.user}>{v.userName || '—'}</Fact>
            <Fact label={t.detail.department}>{v.department || '—'}</Fact>
            <Fact label={t.detail.agent}>{v.agentId ? <span className="mono">{v.agentId}</span> : '—'}</Fact>
            <Fact label={t.detail.eventId}>
              <span className="mono">{v.eventId}</span>
            </Fact>
            {v.plugId ? (
              <Fact label={t.detail.plugId}>
                <span className="mono">{v.plugId}</span>
              </Fact>
            ) : null}
            <Fact label={t.detail.judgedUnder}>
              {v.judgedUnder ? (
                <span data-testid="violation-judged-under">
                  {t.detail.judgedVersion(v.judgedUnder.policyVersion)} — {t.detail.judgedSource[v.judgedUnder.source] ?? v.judgedUnder.source}
                  {v.judgedUnder.note ? <span className="muted"> ({v.judgedUnder.note})</span> : null}
                </span>
              ) : (
                <span className="muted">{t.detail.notRecorded}</span>
              )}
            </Fact>
          </dl>
        </section>
        <section className="panel">
          <h2>{t.triage.title}</h2>
          <TriagePanel violation={v} onChanged={(changed) => { setViolation(changed); trail.reload(); }} />
        </section>
      </div>

      <div className="grid-2">
        <section className="panel" data-testid="violation-identity">
          <h2>{t.detail.identity}</h2>
          <Subject violation={v} t={t} />
          {v.agentId ? <AgentFacts agentId={v.agentId} t={t} /> : null}
        </section>
        <section className="panel" data-testid="violation-enforcement">
          <h2>{t.detail.enforcement}</h2>
          {v.enforcement ? (
            <dl className="facts">
              <Fact label={t.detail.requestedMode}>{v.enforcement.requestedMode}</Fact>
              <Fact label={t.detail.appliedMode}>{v.enforcement.appliedMode}</Fact>
              <Fact label={t.detail.action}>{v.enforcement.action}</Fact>
              <Fact label={t.detail.reason}>{v.enforcement.reason || '—'}</Fact>
              {v.enforcement.registerEntryId ? <Fact label={t.detail.registerEntry}><span className="mono">{v.enforcement.registerEntryId}</span></Fact> : null}
              {v.enforcement.exceptionId ? <Fact label={t.detail.exception}><span className="mono">{v.enforcement.exceptionId}</span></Fact> : null}
              <Fact label={t.detail.agentPolicyVersion}>
                {v.enforcement.policyVersion}
                {v.enforcement.policyLineageId ? <span className="muted mono"> ({v.enforcement.policyLineageId})</span> : null}
              </Fact>
              <Fact label={t.detail.latency}>{Number(v.enforcement.latencyMicros) >= 1000 ? `${(Number(v.enforcement.latencyMicros) / 1000).toFixed(1)} ms` : `${v.enforcement.latencyMicros} µs`}</Fact>
            </dl>
          ) : (
            <p className="muted">{t.detail.noEnforcement}</p>
          )}
        </section>
      </div>

      {v.rule.startsWith('transfer.') ? <TransferFiles violation={v} t={t} /> : null}

      <section className="panel" data-testid="violation-trail">
        <h2>{t.detail.trail}</h2>
        <ErrorBanner error={trail.error} onRetry={trail.reload} />
        {trail.data ? (
          <div className="grid-2">
            <div>
              <h3>{t.detail.trailEvents}</h3>
              {trail.data.events.length === 0 ? <p className="muted">{t.detail.noTrailEvents}</p> : <EventTrail events={trail.data.events} t={t} />}
            </div>
            <div>
              <h3>{t.detail.trailAudit}</h3>
              {trail.data.audit.length === 0 ? <p className="muted">{t.detail.noTrailAudit}</p> : <AuditTrail records={trail.data.audit} t={t} />}
            </div>
          </div>
        ) : trail.loading ? (
          <p className="muted">…</p>
        ) : null}
      </section>
    </Page>
  );
}

function Fact({ label, children }: { label: ReactNode; children: ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children === '' || children === null || children === undefined ? '—' : children}</dd>
    </>
  );
}

function Subject({ violation, t }: { violation: Violation; t: T }) {
  const { lang } = useLanguage();
  const subject = violation.device;
  if (subject.kind === 'machine') {
    const m = subject as MachineSubject;
    return (
      <>
        <h3>{t.detail.machine}</h3>
        <dl className="facts">
          <Fact label={t.detail.hostName}>{m.hostname}</Fact>
          <Fact label={t.detail.hardwareSerial}>{m.hardwareSerial ? <span className="mono">{m.hardwareSerial}</span> : '—'}</Fact>
          <Fact label={t.detail.assetTag}>{m.assetTag ?? t.detail.notInLedger}</Fact>
          <Fact label={t.detail.department}>{m.department}</Fact>
          <Fact label={t.detail.holder}>{m.holder}</Fact>
          <Fact label={t.detail.ledgerStatus}>{m.ledgerStatus ?? t.detail.notInLedger}</Fact>
          {m.hardwareModel || m.hardwareVendor ? <Fact label={t.detail.hardwareModel}>{[m.hardwareVendor, m.hardwareModel].filter(Boolean).join(' ')}</Fact> : null}
          {m.loanedSince ? <Fact label={t.detail.loanedSince}>{m.loanedSince}</Fact> : null}
          {m.dueBack ? <Fact label={t.detail.dueBack}>{m.dueBack}</Fact> : null}
          {m.lastHeardAt ? <Fact label={t.detail.lastHeardAt}>{formatTime(m.lastHeardAt, lang)}</Fact> : null}
          {m.requiredZone ? <Fact label={t.detail.requiredZone}>{m.requiredZone}</Fact> : null}
          {m.reportedZone !== undefined ? <Fact label={t.detail.reportedZone}>{m.reportedZone || '—'}</Fact> : null}
          {m.findings?.length ? (
            <Fact label={t.detail.findings}>
              <ul className="plain">{m.findings.map((finding) => <li key={finding}>{finding}</li>)}</ul>
            </Fact>
          ) : null}
        </dl>
        {m.volumes?.length ? (
          <details>
            <summary>{t.detail.volumes}</summary>
            <pre className="json">{JSON.stringify(m.volumes, null, 2)}</pre>
          </details>
        ) : null}
      </>
    );
  }
  if (subject.kind === 'destination') {
    const d = subject as DestinationSubject;
    return (
      <>
        <h3>{t.detail.destination}</h3>
        <dl className="facts">
          <Fact label={t.detail.hostName}>{d.host || '—'}</Fact>
          <Fact label={t.detail.address}>{d.ipAddress}</Fact>
          {d.ipAddresses.length > 1 ? <Fact label={t.detail.addresses}>{d.ipAddresses.join(', ')}</Fact> : null}
          <Fact label={t.detail.port}>{`${d.port} / ${d.protocol}`}</Fact>
          <Fact label={t.detail.zone}>{d.zone}</Fact>
          <Fact label={t.detail.decision}>{d.decision}</Fact>
          <Fact label={t.detail.attempts}>{t.detail.attemptsValue(d.attempts, d.blockedAttempts, d.auditedAttempts)}</Fact>
          <Fact label={t.detail.process}>{[d.processName, d.processId ? `(${d.processId})` : ''].filter(Boolean).join(' ')}{d.processNames.length > 1 ? ` — ${d.processNames.join(', ')}` : ''}</Fact>
          <Fact label={t.detail.observer}>{d.observer}</Fact>
          <Fact label={t.detail.firstSeen}>{formatTime(d.firstSeenAt, lang)}</Fact>
          <Fact label={t.detail.lastSeen}>{formatTime(d.lastSeenAt, lang)}</Fact>
        </dl>
      </>
    );
  }
  if (subject.kind === 'user_day') {
    const u = subject as UserDaySubject;
    return (
      <>
        <h3>{t.detail.userDay}</h3>
        <dl className="facts">
          <Fact label={t.detail.user}>{u.userName}</Fact>
          <Fact label={t.detail.day}>{u.day}</Fact>
          <Fact label={t.detail.files}>{u.files}</Fact>
          <Fact label={t.detail.bytes}>{formatBytes(u.bytes)}</Fact>
          <Fact label={t.detail.limits}>{t.detail.limitsValue(u.dailyFileLimit ? String(u.dailyFileLimit) : t.detail.off, u.dailyByteLimit ? formatBytes(u.dailyByteLimit) : t.detail.off)}</Fact>
        </dl>
      </>
    );
  }
  const usb = subject as UsbSubject;
  return (
    <>
      <h3>{t.detail.usbDevice}</h3>
      <dl className="facts">
        <Fact label={t.detail.vendorProduct}>
          <span className="mono">{`${usb.vendorId}:${usb.productId}`}</span>
        </Fact>
        <Fact label={t.detail.manufacturer}>{usb.manufacturer}</Fact>
        <Fact label={t.detail.product}>{usb.product}</Fact>
        <Fact label={t.detail.serial}>{usb.serial ? <span className="mono">{usb.serial}</span> : '—'}</Fact>
        <Fact label={t.detail.serialQuality}>{usb.serialQuality}</Fact>
        <Fact label={t.detail.interfaceClasses}>{usb.interfaceClasses.map((c) => `0x${c.toString(16).padStart(2, '0')}`).join(', ')}</Fact>
        <Fact label={t.detail.busPath}>{usb.busPath}</Fact>
      </dl>
    </>
  );
}

function AgentFacts({ agentId, t }: { agentId: string; t: T }) {
  const agent = useApi<Agent>(`/agents/${encodeURIComponent(agentId)}`);
  if (!agent.data) return <ErrorBanner error={agent.error} />;
  const facts = Object.entries(agent.data.facts ?? {}).filter(([, value]) => value !== '' && value !== null && value !== undefined);
  if (facts.length === 0) return null;
  return (
    <>
      <h3 className="spaced">{t.detail.agentFacts}</h3>
      <dl className="facts">
        {facts.map(([key, value]) => (
          <Fact key={key} label={key}>
            {typeof value === 'object' ? <span className="mono">{JSON.stringify(value)}</span> : String(value)}
          </Fact>
        ))}
      </dl>
    </>
  );
}

/** The files behind a transfer.* violation: path, size, hash, findings. */
function TransferFiles({ violation, t }: { violation: Violation; t: T }) {
  const { lang } = useLanguage();
  const [files, setFiles] = useState<Transfer[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let cancelled = false;
    transfersOf(violation).then(
      (found) => !cancelled && setFiles(found),
      (failure: unknown) => !cancelled && setError(failure),
    );
    return () => {
      cancelled = true;
    };
  }, [violation.id, violation.updatedAt]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <section className="panel" data-testid="violation-files">
      <h2>{t.detail.files_}</h2>
      <ErrorBanner error={error} />
      {files === undefined ? (
        error ? null : <p className="muted">…</p>
      ) : files.length === 0 ? (
        <p className="muted">{t.detail.noFiles}</p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th>{t.columns.time}</th>
                <th>{t.detail.path}</th>
                <th className="num">{t.detail.size}</th>
                <th>{t.detail.sha256}</th>
                <th>{t.detail.findings}</th>
                <th>{t.detail.encrypted}</th>
              </tr>
            </thead>
            <tbody>
              {files.map((file) => (
                <tr key={file.id} data-testid="violation-file">
                  <td className="nowrap">{formatTime(file.occurredAt, lang)}</td>
                  <td className="mono">{file.path}</td>
                  <td className="num">{formatBytes(file.sizeBytes)}</td>
                  <td className="hash">{file.sha256 || '—'}</td>
                  <td>
                    {Object.keys(file.findings).length === 0 ? t.detail.noFindings : Object.entries(file.findings).map(([kind, count]) => `${kind} × ${count}`).join(', ')}
                    {!file.inspectionComplete ? <div className="muted small">{t.detail.incomplete}{file.inspectionNote ? `: ${file.inspectionNote}` : ''}</div> : null}
                  </td>
                  <td>{file.destinationEncrypted ? t.detail.yes : t.detail.no}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/**
 * The stored transfers of a transfer.* violation: personal data → the file whose event raised it;
 * unregistered media → the files written during that plug; daily volume → the user's files that day.
 */
async function transfersOf(v: Violation): Promise<Transfer[]> {
  const occurred = Date.parse(v.occurredAt);
  const iso = (ms: number) => new Date(ms).toISOString();
  if (v.rule === 'transfer.daily_volume' && v.device.kind === 'user_day') {
    const day = (v.device as UserDaySubject).day;
    const start = Date.parse(`${day}T00:00:00Z`);
    const query = new URLSearchParams({ userName: (v.device as UserDaySubject).userName, since: iso(start - 86_400_000), until: iso(start + 2 * 86_400_000), limit: '500' });
    const page = await api.get<ApiPage<Transfer>>(`/transfers?${query}`);
    return page.items.filter((item) => item.localDay === day);
  }
  if (!v.agentId) return [];
  if (v.rule === 'transfer.personal_data_unencrypted') {
    const query = new URLSearchParams({ agentId: v.agentId, since: iso(occurred - 60_000), until: iso(occurred + 60_000), limit: '500' });
    const page = await api.get<ApiPage<Transfer>>(`/transfers?${query}`);
    return page.items.filter((item) => item.eventId === v.eventId);
  }
  const query = new URLSearchParams({ agentId: v.agentId, since: iso(occurred - 60_000), limit: '500' });
  const page = await api.get<ApiPage<Transfer>>(`/transfers?${query}`);
  return page.items.filter((item) => (v.plugId ? item.attachedEventId === v.plugId : item.eventId === v.eventId));
}

function EventTrail({ events, t }: { events: TrailEvent[]; t: T }) {
  const { lang } = useLanguage();
  return (
    <ol className="trail">
      {events.map((event) => (
        <li key={`${event.agentId}:${event.eventId}`} data-testid="trail-event" data-kind={event.kind}>
          <div className="trail-time">{formatTime(event.occurredAt, lang)}</div>
          <div>
            <strong className="mono">{event.kind}</strong> <span className="muted">— {t.detail.roles[event.role] ?? event.role}</span>
          </div>
          {event.userName ? <div className="muted small">{event.userName}</div> : null}
          <details>
            <summary>{t.detail.payload}</summary>
            <pre className="json">{JSON.stringify(event.payload, null, 2)}</pre>
          </details>
        </li>
      ))}
    </ol>
  );
}

export function AuditTrail({ records, t }: { records: AuditRecord[]; t: T }) {
  const { lang } = useLanguage();
  return (
    <ol className="trail">
      {records.map((record) => (
        <li key={record.id} className="trail-audit" data-testid="trail-audit" data-action={record.action}>
          <div className="trail-time">
            {formatTime(record.at, lang)} · #{record.sequence}
          </div>
          <div>
            <strong className="mono">{record.action}</strong> <span className="muted">{t.detail.by(record.onBehalfOf ?? record.actor.name)}</span>
          </div>
          <details>
            <summary>{t.detail.change}</summary>
            <pre className="json">{JSON.stringify({ before: record.before, after: record.after }, null, 2)}</pre>
          </details>
        </li>
      ))}
    </ol>
  );
}
