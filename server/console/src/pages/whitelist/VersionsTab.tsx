import { useEffect, useMemo, useRef, useState } from 'react';
import { useApi } from '../../api/client';
import { useLanguage, useMessages } from '../../i18n';
import { Button, EmptyState, ErrorBanner, Field, formatTime, StatusBadge, Table, type Column } from '../../ui';
import { messages as sharedMessages } from '../shared/messages';
import { messages } from './messages';
import { historySubject, type HistoryStep, type Page as ListPage } from './whitelist-model';
import { countKinds, groupChanges, lineDiff, nextBeforeOf, pathText, previousVersion, summaryText, valueText, versionsOf, type PolicyChange, type PolicyDiff, type PolicyVersionSummary } from './policy-diff';
import './whitelist.css';

/** The policy versions, newest first, and the differences between any two. */
export function VersionsTab() {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const { lang } = useLanguage();
  const list = useApi<unknown>('/policy/versions?limit=200');
  // Older pages (nextBefore), appended as they are asked for.
  const [before, setBefore] = useState<number | null>(null);
  const older = useApi<unknown>(before === null ? null : `/policy/versions?limit=200&before=${before}`);
  const [olderVersions, setOlderVersions] = useState<PolicyVersionSummary[]>([]);
  useEffect(() => {
    if (older.data !== undefined) setOlderVersions((current) => [...current, ...versionsOf(older.data).filter((item) => !current.some((known) => known.version === item.version))]);
  }, [older.data]);
  const firstPage = versionsOf(list.data);
  const versions = useMemo(() => [...firstPage, ...olderVersions.filter((item) => !firstPage.some((known) => known.version === item.version))], [firstPage, olderVersions]);
  const nextBefore = nextBeforeOf(before === null ? list.data : older.data);
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const [shown, setShown] = useState<{ from: number; to: number } | null>(null);

  useEffect(() => {
    if (versions.length > 0 && to === null) {
      setTo(versions[0].version);
      setFrom(previousVersion(versions, versions[0].version));
    }
  }, [versions, to]);

  const compareWithPrevious = (version: number) => {
    const previous = previousVersion(versions, version);
    if (previous === null) return;
    setFrom(previous);
    setTo(version);
    setShown({ from: previous, to: version });
  };

  const columns: Column<PolicyVersionSummary>[] = [
    { key: 'version', header: t.col.version, className: 'num', render: (item) => item.version },
    { key: 'published', header: t.col.published, className: 'nowrap', render: (item) => formatTime(item.createdAt, lang) },
    { key: 'summary', header: t.col.summary, render: (item) => <span className="wrap-anywhere">{summaryText(item.summary)}</span> },
    {
      key: 'actions',
      header: '',
      className: 'cell-actions',
      render: (item) =>
        previousVersion(versions, item.version) !== null ? (
          <Button variant="quiet" onClick={() => compareWithPrevious(item.version)} data-testid="policy-version-compare">
            {t.versions.withPrevious}
          </Button>
        ) : null,
    },
  ];

  return (
    <>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {list.data !== undefined && versions.length === 0 ? (
        <EmptyState title={t.versions.emptyTitle} testId="policy-versions-empty">
          <p>{t.versions.emptyNext}</p>
        </EmptyState>
      ) : null}
      {versions.length > 0 ? (
        <>
          <div className="filters">
            <Field label={t.versions.from}>
              <select value={from ?? ''} onChange={(event) => setFrom(Number(event.target.value))} data-testid="policy-diff-from">
                {versions.map((item) => (
                  <option key={item.version} value={item.version}>
                    {item.version}
                  </option>
                ))}
              </select>
            </Field>
            <Field label={t.versions.to}>
              <select value={to ?? ''} onChange={(event) => setTo(Number(event.target.value))} data-testid="policy-diff-to">
                {versions.map((item) => (
                  <option key={item.version} value={item.version}>
                    {item.version}
                  </option>
                ))}
              </select>
            </Field>
            <Button variant="primary" disabled={from === null || to === null || from === to} title={from === to ? t.versions.sameVersion : undefined} onClick={() => from !== null && to !== null && setShown({ from, to })} data-testid="policy-diff-show">
              {t.versions.showDiff}
            </Button>
          </div>
          {shown ? <DiffView from={shown.from} to={shown.to} /> : <p className="muted">{t.versions.pickTwo}</p>}
          <Table testId="policy-versions" columns={columns} rows={versions} rowKey={(item) => String(item.version)} rowProps={(item) => ({ 'data-testid': 'policy-version-row', 'data-version': String(item.version) })} />
          <ErrorBanner error={older.error} onRetry={older.reload} />
          {nextBefore !== null ? (
            <div className="pager">
              <Button busy={older.loading} onClick={() => setBefore(nextBefore)} data-testid="policy-versions-older">
                {s.loadMore}
              </Button>
            </div>
          ) : null}
        </>
      ) : null}
      <HistoryPanel onVersion={compareWithPrevious} />
    </>
  );
}

/** Every step on zones, entries, requests and required zones, newest first, with the version it published. */
function HistoryPanel({ onVersion }: { onVersion: (version: number) => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const { lang } = useLanguage();
  const [cursor, setCursor] = useState<string | null>(null);
  const first = useApi<ListPage<HistoryStep>>('/whitelist/history?limit=50');
  const more = useApi<ListPage<HistoryStep>>(cursor === null ? null : `/whitelist/history?limit=50&cursor=${encodeURIComponent(cursor)}`);
  const [extra, setExtra] = useState<HistoryStep[]>([]);
  useEffect(() => {
    if (more.data) setExtra((current) => [...current, ...more.data!.items.filter((item) => !current.some((known) => known.id === item.id))]);
  }, [more.data]);
  const rows = [...(first.data?.items ?? []), ...extra];
  const nextCursor = extra.length > 0 ? (more.data?.nextCursor ?? null) : (first.data?.nextCursor ?? null);
  const columns: Column<HistoryStep>[] = [
    { key: 'at', header: t.history.at, className: 'nowrap', render: (step) => formatTime(step.at, lang) },
    { key: 'kind', header: t.history.kind, render: (step) => t.history.kinds[step.kind] ?? step.kind },
    { key: 'subject', header: t.history.subject, render: (step) => <code className="wrap-anywhere">{historySubject(step)}</code> },
    { key: 'actor', header: t.history.actor, render: (step) => step.actor },
    { key: 'reason', header: t.history.reason, render: (step) => <span className="wrap-anywhere">{step.reason ?? ''}</span> },
    {
      key: 'version',
      header: t.col.version,
      className: 'num',
      render: (step) =>
        step.policyVersion === null ? (
          <span className="muted">—</span>
        ) : (
          <button type="button" className="button button-quiet" onClick={() => onVersion(step.policyVersion!)} data-testid="whitelist-history-version">
            {step.policyVersion}
          </button>
        ),
    },
  ];
  return (
    <section className="section-gap" data-testid="whitelist-history">
      <h2>{t.history.title}</h2>
      <p className="muted">{t.history.intro}</p>
      <ErrorBanner error={first.error ?? more.error} onRetry={first.reload} />
      {first.data ? (
        <Table
          columns={columns}
          rows={rows}
          rowKey={(step) => step.id}
          rowProps={(step) => ({ 'data-testid': 'whitelist-history-row', 'data-kind': step.kind })}
          empty={<EmptyState title={t.history.emptyTitle} testId="whitelist-history-empty" />}
        />
      ) : null}
      {nextCursor ? (
        <div className="pager">
          <Button busy={more.loading} onClick={() => setCursor(nextCursor)} data-testid="whitelist-history-more">
            {s.loadMore}
          </Button>
        </div>
      ) : null}
    </section>
  );
}

function DiffView({ from, to }: { from: number; to: number }) {
  const t = useMessages(messages);
  const diff = useApi<PolicyDiff>(`/policy/versions/${to}/diff?against=${from}`);
  const panel = useRef<HTMLElement>(null);
  // Asked for from the change log further down: bring the answer into view.
  useEffect(() => panel.current?.scrollIntoView({ block: 'nearest' }), [from, to]);
  const changes = diff.data?.changes ?? [];
  const counts = countKinds(changes);
  return (
    <section className="panel" data-testid="policy-diff" ref={panel}>
      <h2>{t.versions.diffTitle(from, to)}</h2>
      <ErrorBanner error={diff.error} onRetry={diff.reload} />
      {diff.data ? (
        changes.length === 0 ? (
          <p className="muted">{t.versions.noChanges}</p>
        ) : (
          <>
            <p className="muted">{t.versions.counts(counts.added, counts.removed, counts.changed)}</p>
            {groupChanges(changes).map((group) => (
              <div key={group.section} className="diff-group">
                <h3>
                  <code>{group.section}</code>
                </h3>
                {group.changes.map((change, index) => (
                  <ChangeView key={`${pathText(change.path)}-${index}`} change={change} />
                ))}
              </div>
            ))}
          </>
        )
      ) : null}
    </section>
  );
}

function ChangeView({ change }: { change: PolicyChange }) {
  const t = useMessages(messages);
  const before = valueText(change.before);
  const after = valueText(change.after);
  const lines = change.kind === 'changed' ? lineDiff(before, after) : change.kind === 'added' ? lineDiff('', after) : lineDiff(before, '');
  return (
    <div className={`diff-change diff-${change.kind}`} data-testid="policy-diff-change" data-kind={change.kind}>
      <div className="diff-head">
        <StatusBadge status={change.kind === 'added' ? 'approved' : change.kind === 'removed' ? 'revoked' : 'pending'} label={t.versions.kinds[change.kind] ?? change.kind} />
        <code className="wrap-anywhere">{pathText(change.path)}</code>
      </div>
      <pre className="diff-lines" aria-label={`${t.versions.before} / ${t.versions.after}`}>
        {lines.map((line, index) => (
          <span key={index} className={`diff-line diff-line-${line.kind}`}>
            {line.kind === 'added' ? '+ ' : line.kind === 'removed' ? '- ' : '  '}
            {line.text}
            {'\n'}
          </span>
        ))}
      </pre>
    </div>
  );
}
