import { useEffect, useState } from 'react';
import { useApi } from '../../api/client';
import type { AuditRecord, AuditVerification, Page as ApiPage } from '../../api/types';
import { useLanguage, useMessages } from '../../i18n';
import { Link, navigate, useRoute } from '../../router';
import { Button, EmptyState, ErrorBanner, Field, Page, Table, formatTime, type Column } from '../../ui';
import { messages } from './messages';

const PAGE_SIZE = 50;
const FILTERS = ['action', 'subjectType', 'subjectId', 'actor'] as const;
type FilterKey = (typeof FILTERS)[number];

/** /audit — the verification result first, then the records newest first, a page at a time. */
export function AuditPage() {
  const t = useMessages(messages);
  const route = useRoute();
  const filters: Partial<Record<FilterKey, string>> = {};
  for (const key of FILTERS) {
    const value = route.query.get(key)?.trim();
    if (value) filters[key] = value;
  }
  const filterQuery = new URLSearchParams(filters as Record<string, string>).toString();
  // Cursors of the pages before this one, so "newer" goes back without the server paging backwards.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.length ? cursors[cursors.length - 1] : null;
  useEffect(() => setCursors([]), [filterQuery]);

  const params = new URLSearchParams(filters as Record<string, string>);
  params.set('limit', String(PAGE_SIZE));
  if (cursor) params.set('cursor', cursor);
  const page = useApi<ApiPage<AuditRecord>>(`/audit?${params}`);
  const verification = useApi<AuditVerification>('/audit/verify');

  const setFilter = (key: FilterKey, value: string) => {
    const next = new URLSearchParams(filters as Record<string, string>);
    if (value.trim()) next.set(key, value.trim());
    else next.delete(key);
    const text = next.toString();
    navigate(`/audit${text ? `?${text}` : ''}`, { replace: true });
  };

  const items = page.data?.items ?? [];
  return (
    <Page title={t.title} subtitle={t.subtitle} testId="audit-page">
      <VerifyResult state={verification} />
      <form className="filters" onSubmit={(event) => event.preventDefault()} data-testid="audit-filters">
        {FILTERS.map((key) => (
          <TextFilter key={key} label={t.filters[key]} testId={`audit-filter-${key}`} value={filters[key] ?? ''} onCommit={(value) => setFilter(key, value)} />
        ))}
        {filterQuery ? (
          <button type="button" className="button button-quiet" onClick={() => navigate('/audit', { replace: true })}>
            {t.filters.clear}
          </button>
        ) : null}
      </form>
      <ErrorBanner error={page.error} onRetry={page.reload} />
      {page.data && items.length === 0 && cursors.length === 0 ? (
        filterQuery ? (
          <EmptyState title={t.emptyFiltered} />
        ) : (
          <EmptyState title={t.emptyTitle}>
            <p>{t.emptyText}</p>
          </EmptyState>
        )
      ) : (
        <AuditTable records={items} />
      )}
      <div className="pager">
        {items.length ? <span className="muted">{t.pageOf(items[items.length - 1].sequence, items[0].sequence)}</span> : null}
        <Button disabled={cursors.length === 0 || page.loading} onClick={() => setCursors((list) => list.slice(0, -1))} data-testid="audit-newer">
          {t.newer}
        </Button>
        <Button disabled={!page.data?.nextCursor || page.loading} onClick={() => page.data?.nextCursor && setCursors((list) => [...list, page.data!.nextCursor!])} data-testid="audit-older">
          {t.older}
        </Button>
      </div>
    </Page>
  );
}

function VerifyResult({ state }: { state: { data: AuditVerification | undefined; error: unknown; loading: boolean; reload: () => void } }) {
  const t = useMessages(messages);
  const result = state.data;
  const again = (
    <Button variant="secondary" onClick={state.reload} busy={state.loading} data-testid="audit-verify-again">
      {t.verify.again}
    </Button>
  );
  if (!result) {
    return (
      <div className="verify verify-unknown" data-testid={state.error ? 'audit-verify-result' : 'audit-verify-pending'} data-state={state.error ? 'error' : 'checking'} role="status">
        <div className="verify-text">{state.error ? <ErrorBanner error={state.error} /> : t.verify.checking}</div>
        {state.error ? again : null}
      </div>
    );
  }
  if (result.ok) {
    return (
      <div className="verify verify-ok" data-testid="audit-verify-result" data-state="ok" data-intact="true" data-records={result.records} data-last-sequence={result.last?.sequence ?? 0} role="status">
        <span className="verify-icon" aria-hidden="true">
          ✓
        </span>
        <div className="verify-text">
          <strong>{result.last ? t.verify.ok(result.records, result.last.sequence) : t.verify.okEmpty}</strong>
          {result.last ? (
            <div className="verify-anchor">
              {t.verify.anchor} <code className="hash" data-testid="audit-anchor">{`${result.last.sequence}:${result.last.hash}`}</code>
            </div>
          ) : null}
        </div>
        {again}
      </div>
    );
  }
  const broken = result.firstBroken;
  return (
    <div className="verify verify-broken" data-testid="audit-verify-result" data-state="broken" data-intact="false" data-broken-sequence={broken?.sequence ?? ''} role="alert">
      <span className="verify-icon" aria-hidden="true">
        ✕
      </span>
      <div className="verify-text">
        <strong>{broken ? t.verify.broken(broken.sequence, broken.id) : t.verify.failed}</strong>
        {broken ? (
          <div>
            {t.verify.reason}: {broken.reason}
          </div>
        ) : null}
        {result.last ? <div className="muted">{t.verify.brokenAfter(result.last.sequence)}</div> : null}
      </div>
      {again}
    </div>
  );
}

function AuditTable({ records }: { records: AuditRecord[] }) {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  const columns: Column<AuditRecord>[] = [
    { key: 'sequence', header: t.columns.sequence, className: 'num', render: (r) => r.sequence },
    { key: 'at', header: t.columns.at, className: 'nowrap', render: (r) => formatTime(r.at, lang) },
    {
      key: 'actor',
      header: t.columns.actor,
      render: (r) => (
        <div>
          <div>{r.actor.name || r.actor.id}</div>
          <div className="muted small">
            {t.actorKinds[r.actor.kind] ?? r.actor.kind}
            {r.onBehalfOf ? ` · ${t.onBehalfOf(r.onBehalfOf)}` : ''}
          </div>
        </div>
      ),
    },
    { key: 'source', header: t.columns.source, render: (r) => (r.sourceAddress === 'local' ? t.local : r.sourceAddress || t.collector) },
    { key: 'action', header: t.columns.action, render: (r) => <span className="mono">{r.action}</span> },
    {
      key: 'subject',
      header: t.columns.subject,
      render: (r) => (
        <div>
          <div>{r.subject.type}</div>
          <div className="muted small mono">{r.subject.type === 'violation' ? <Link to={`/violations/${encodeURIComponent(r.subject.id)}`}>{r.subject.id}</Link> : r.subject.id}</div>
        </div>
      ),
    },
    {
      key: 'change',
      header: t.columns.change,
      className: 'change-cell',
      render: (r) => (
        <details>
          <summary>{t.show}</summary>
          <div className="change-grid">
            <div>
              <div className="muted small">{t.before}</div>
              <pre className="json">{JSON.stringify(r.before, null, 2)}</pre>
            </div>
            <div>
              <div className="muted small">{t.after}</div>
              <pre className="json">{JSON.stringify(r.after, null, 2)}</pre>
            </div>
          </div>
          <div className="muted small">
            {t.hash}: <span className="hash">{r.hash}</span>
            <br />
            {t.previousHash}: <span className="hash">{r.previousHash}</span>
          </div>
        </details>
      ),
    },
  ];
  return <Table testId="audit-table" columns={columns} rows={records} rowKey={(r) => r.id} rowProps={(r) => ({ 'data-testid': 'audit-row', 'data-sequence': String(r.sequence), 'data-action': r.action, 'data-subject-id': r.subject.id })} />;
}

function TextFilter({ label, testId, value, onCommit }: { label: string; testId: string; value: string; onCommit: (value: string) => void }) {
  const t = useMessages(messages);
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  const commit = () => {
    if (text.trim() !== value) onCommit(text);
  };
  return (
    <Field label={label}>
      <input
        data-testid={testId}
        value={text}
        placeholder={t.filters.hint}
        onChange={(event) => setText(event.target.value)}
        onBlur={commit}
        onKeyDown={(event) => {
          if (event.key === 'Enter') {
            event.preventDefault();
            commit();
          }
        }}
      />
    </Field>
  );
}
