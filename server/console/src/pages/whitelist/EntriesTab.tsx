import { useEffect, useState } from 'react';
import { api, useApi } from '../../api/client';
import { useLanguage, useMessages } from '../../i18n';
import { useSession } from '../../session';
import { Button, EmptyState, ErrorBanner, Field, formatTime, StatusBadge, Table, type Column } from '../../ui';
import { ReasonDialog, Remaining } from '../shared/components';
import { messages as sharedMessages } from '../shared/messages';
import { messages } from './messages';
import { destinationTarget, entriesQuery, formatPorts, type NetworkZone, type Page, type WhitelistEntry } from './whitelist-model';

/** The entries with search and filters, edit and "end now" for administrators. */
export function EntriesTab({ zones, generation, onAdd, onRequest, onEdit, onChanged }: { zones: NetworkZone[]; generation: number; onAdd: () => void; onRequest: () => void; onEdit: (entry: WhitelistEntry) => void; onChanged: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const { lang } = useLanguage();
  const session = useSession();
  const [q, setQ] = useState('');
  const [query, setQuery] = useState('');
  const [status, setStatus] = useState('active');
  const [zone, setZone] = useState('');
  const [extra, setExtra] = useState<WhitelistEntry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [expiring, setExpiring] = useState<WhitelistEntry | null>(null);
  const list = useApi<Page<WhitelistEntry>>(entriesQuery({ q: query, status, zone }));

  // A typed search is sent after a short pause, not on every key.
  useEffect(() => {
    const timer = setTimeout(() => setQuery(q), 250);
    return () => clearTimeout(timer);
  }, [q]);
  useEffect(() => {
    setExtra([]);
    setCursor(null);
  }, [query, status, zone, generation]);
  useEffect(() => {
    if (generation > 0) list.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [generation]);

  const more = useApi<Page<WhitelistEntry>>(cursor === null ? null : entriesQuery({ q: query, status, zone, cursor }));
  useEffect(() => {
    if (more.data) setExtra((current) => [...current, ...more.data!.items.filter((item) => !current.some((known) => known.id === item.id))]);
  }, [more.data]);

  const rows = [...(list.data?.items ?? []), ...extra];
  const nextCursor = extra.length > 0 ? (more.data?.nextCursor ?? null) : (list.data?.nextCursor ?? null);
  const filtered = query.trim() !== '' || status !== 'active' || zone !== '';

  const columns: Column<WhitelistEntry>[] = [
    {
      key: 'destination',
      header: t.col.destination,
      render: (entry) => (
        <span className="wrap-anywhere">
          <code>{destinationTarget(entry)}</code>
        </span>
      ),
    },
    { key: 'ports', header: t.col.ports, render: (entry) => (entry.ports.length === 0 ? <span className="muted">{t.allPorts}</span> : formatPorts(entry.ports)) },
    { key: 'protocol', header: t.col.protocol, render: (entry) => `${entry.protocol} / ${entry.service}` },
    { key: 'zone', header: t.col.zone, className: 'nowrap', render: (entry) => (entry.zone === '' ? <span className="muted">{s.everyZone}</span> : entry.zone) },
    { key: 'justification', header: t.col.justification, render: (entry) => <span className="wrap-anywhere">{entry.justification}</span> },
    {
      key: 'people',
      header: t.col.people,
      render: (entry) => (
        <>
          {entry.requestedBy}
          <span className="cell-sub">{entry.approvedBy}</span>
        </>
      ),
    },
    {
      key: 'expires',
      header: t.col.expires,
      className: 'nowrap',
      render: (entry) =>
        entry.status === 'active' ? (
          <>
            {entry.expiresAt === null ? s.none : formatTime(entry.expiresAt, lang)}
            <Remaining end={entry.expiresAt} />
          </>
        ) : (
          <>
            {formatTime(entry.revokedAt ?? entry.expiredAt ?? entry.expiresAt, lang)}
            {entry.revocationReason ? <span className="cell-sub">{entry.revocationReason}</span> : null}
          </>
        ),
    },
    { key: 'status', header: t.col.status, render: (entry) => <StatusBadge status={entry.status} label={t.statuses[entry.status] ?? entry.status} /> },
    {
      key: 'actions',
      header: '',
      className: 'cell-actions',
      render: (entry) =>
        entry.status === 'active' ? (
          <>
            <Button requires={['admin']} onClick={() => onEdit(entry)} data-testid="whitelist-entry-edit">
              {t.edit}
            </Button>
            <Button variant="danger" requires={['admin']} onClick={() => setExpiring(entry)} data-testid="whitelist-entry-expire">
              {t.expire}
            </Button>
          </>
        ) : null,
    },
  ];

  return (
    <>
      <div className="filters">
        <Field label={t.search}>
          <input type="search" value={q} placeholder={t.searchPlaceholder} onChange={(event) => setQ(event.target.value)} data-testid="whitelist-search" />
        </Field>
        <Field label={t.status}>
          <select value={status} onChange={(event) => setStatus(event.target.value)} data-testid="whitelist-status-filter">
            {['active', 'expired', 'revoked', 'all'].map((value) => (
              <option key={value} value={value}>
                {t.statuses[value]}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t.zone}>
          <select value={zone} onChange={(event) => setZone(event.target.value)} data-testid="whitelist-zone-filter">
            <option value="">{t.anyZone}</option>
            {zones.map((item) => (
              <option key={item.name} value={item.name}>
                {item.name}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorBanner error={list.error ?? more.error} onRetry={list.reload} />
      {list.data ? (
        <Table
          testId="whitelist-entries"
          columns={columns}
          rows={rows}
          rowKey={(entry) => entry.id}
          rowProps={(entry) => ({ 'data-testid': 'whitelist-entry-row', 'data-entry-id': entry.id, 'data-status': entry.status })}
          empty={
            filtered ? (
              <EmptyState title={t.emptyEntriesFiltered} testId="whitelist-entries-empty">
                <p>{t.emptyEntriesFilteredNext}</p>
              </EmptyState>
            ) : (
              <EmptyState
                title={t.emptyEntries}
                testId="whitelist-entries-empty"
                action={
                  <div className="button-row">
                    {session.hasRole('admin') ? (
                      <Button variant="primary" requires={['admin']} onClick={onAdd}>
                        {t.add}
                      </Button>
                    ) : null}
                    <Button requires={['admin', 'it', 'security']} onClick={onRequest}>
                      {t.fileRequest}
                    </Button>
                  </div>
                }
              >
                <p>{t.emptyEntriesNext}</p>
              </EmptyState>
            )
          }
        />
      ) : null}
      {nextCursor ? (
        <div className="pager">
          <Button busy={more.loading} onClick={() => setCursor(nextCursor)} data-testid="whitelist-more">
            {s.loadMore}
          </Button>
        </div>
      ) : null}
      <ReasonDialog
        open={expiring !== null}
        title={expiring ? t.expireTitle(destinationTarget(expiring)) : ''}
        intro={<p>{t.expireIntro}</p>}
        confirmLabel={t.expire}
        requires={['admin']}
        testIdPrefix="whitelist-expire"
        onClose={() => setExpiring(null)}
        onConfirm={async (reason) => {
          await api.send('POST', `/whitelist/${expiring!.id}/expire`, { expiredBy: session.user.username, reason });
          onChanged();
        }}
      />
    </>
  );
}
