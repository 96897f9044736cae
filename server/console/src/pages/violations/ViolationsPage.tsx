import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { api, useApi } from '../../api/client';
import type { Agent, Page as ApiPage, Violation } from '../../api/types';
import { useLanguage, useMessages } from '../../i18n';
import {
  apiQueryFromFilters,
  appendPage,
  filtersFromQuery,
  hasFilters,
  mergeViolation,
  queryFromFilters,
  TIME_RANGES,
  VIOLATION_RULES,
  VIOLATION_SEVERITIES,
  VIOLATION_STATUSES,
  type TimeRange,
  type ViolationFilters,
} from '../../lib/violations';
import { Link, navigate, useRoute } from '../../router';
import { Button, EmptyState, ErrorBanner, Field, Page, StatusBadge, Table, formatTime, type Column } from '../../ui';
import { messages } from './messages';
import { TriagePanel } from './TriagePanel';
import { useAssignees } from './useAssignees';
import { useViolationStream, type StreamState } from './useViolationStream';

const PAGE_SIZE = 50;
const FLASH_MS = 4000;

type Flash = 'new' | 'updated';

export function ViolationsPage() {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  const route = useRoute();
  const filters = useMemo(() => filtersFromQuery(route.query), [route.search]); // eslint-disable-line react-hooks/exhaustive-deps
  const selectedId = route.query.get('selected');
  const filterKey = queryFromFilters(filters);

  const [items, setItems] = useState<Violation[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [flash, setFlash] = useState<Record<string, Flash>>({});
  const [generation, setGeneration] = useState(0);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const ticket = useRef(0);

  useEffect(() => {
    const mine = ++ticket.current;
    setLoading(true);
    api.get<ApiPage<Violation>>(`/violations${apiQueryFromFilters(filters, Date.now(), PAGE_SIZE)}`).then(
      (page) => {
        if (mine !== ticket.current) return;
        setItems(page.items);
        setNextCursor(page.nextCursor);
        setError(undefined);
        setLoading(false);
      },
      (failure: unknown) => {
        if (mine !== ticket.current) return;
        setError(failure);
        setLoading(false);
      },
    );
  }, [filterKey, generation]); // eslint-disable-line react-hooks/exhaustive-deps

  const reload = useCallback(() => setGeneration((n) => n + 1), []);

  const loadMore = async () => {
    if (!nextCursor) return;
    setLoadingMore(true);
    try {
      const page = await api.get<ApiPage<Violation>>(`/violations${apiQueryFromFilters(filters, Date.now(), PAGE_SIZE, nextCursor)}`);
      setItems((list) => appendPage(list, page.items));
      setNextCursor(page.nextCursor);
    } catch (failure) {
      setError(failure);
    } finally {
      setLoadingMore(false);
    }
  };

  const timers = useRef(new Map<string, number>());
  const flashRow = useCallback((id: string, kind: Flash) => {
    setFlash((current) => ({ ...current, [id]: kind }));
    const previous = timers.current.get(id);
    if (previous !== undefined) window.clearTimeout(previous);
    timers.current.set(
      id,
      window.setTimeout(() => {
        timers.current.delete(id);
        setFlash((current) => {
          const next = { ...current };
          delete next[id];
          return next;
        });
      }, FLASH_MS),
    );
  }, []);
  useEffect(() => {
    const pending = timers.current;
    return () => pending.forEach((timer) => window.clearTimeout(timer));
  }, []);

  // The list as last set, so live changes merge into the newest one without waiting for a render.
  const itemsRef = useRef<Violation[]>([]);
  itemsRef.current = items;
  const applyChange = useCallback(
    (violation: Violation, highlight: boolean) => {
      const merged = mergeViolation(itemsRef.current, violation, filtersRef.current, Date.now());
      if (merged.outcome === 'unchanged' || merged.outcome === 'ignored') return;
      itemsRef.current = merged.list;
      setItems(merged.list);
      if (highlight) flashRow(violation.id, merged.outcome);
    },
    [flashRow],
  );

  const agents = useApi<{ items: Agent[] }>('/agents');
  const knownAgents = useRef(new Set<string>());
  knownAgents.current = new Set((agents.data?.items ?? []).map((agent) => agent.id));
  const stream = useViolationStream((violation) => {
    changed(violation, true);
    // A newly enrolled agent: offer it in the agent filter too.
    if (violation.agentId && agents.data && !knownAgents.current.has(violation.agentId)) {
      knownAgents.current.add(violation.agentId);
      agents.reload();
    }
  }, reload);

  const setFilters = (next: ViolationFilters) => navigate(`/violations${queryFromFilters(next, { selected: selectedId ?? undefined })}`, { replace: true });
  const select = (id: string | null) => navigate(`/violations${queryFromFilters(filters, { selected: id ?? undefined })}`, { replace: true });

  // A selected violation not in the list (an older page, or outside the filters, e.g. from a shared link) is fetched by itself.
  const [extra, setExtra] = useState<Violation | null>(null);
  const listed = selectedId ? (items.find((item) => item.id === selectedId) ?? null) : null;
  useEffect(() => {
    if (!selectedId || loading || listed) return;
    let cancelled = false;
    api.get<Violation>(`/violations/${encodeURIComponent(selectedId)}`).then(
      (violation) => !cancelled && setExtra(violation),
      () => !cancelled && setExtra(null),
    );
    return () => {
      cancelled = true;
    };
  }, [selectedId, loading, Boolean(listed)]); // eslint-disable-line react-hooks/exhaustive-deps
  const selected = listed ?? (extra && extra.id === selectedId ? extra : null);
  const extraRef = useRef(extra);
  extraRef.current = extra;
  const changed = (violation: Violation, highlight: boolean) => {
    if (extraRef.current?.id === violation.id && !itemsRef.current.some((item) => item.id === violation.id)) setExtra(violation);
    else applyChange(violation, highlight);
  };
  // With the triage panel open the list keeps what identifies a row; host, user and assignee move under the summary.
  const compact = selected !== null;
  const allColumns: Column<Violation>[] = [
    { key: 'time', header: t.columns.time, className: 'nowrap', render: (v) => <time dateTime={v.occurredAt}>{formatTime(v.occurredAt, lang)}</time> },
    { key: 'severity', header: t.columns.severity, render: (v) => <StatusBadge status={v.severity} label={t.severities[v.severity] ?? v.severity} /> },
    {
      key: 'rule',
      header: t.columns.rule,
      render: (v) => (
        <div>
          <div>{t.rules[v.rule] ?? v.rule}</div>
          <div className="muted small mono">{v.rule}</div>
        </div>
      ),
    },
    {
      key: 'device',
      header: t.columns.device,
      render: (v) => (
        <div>
          <div>{v.hostname || '—'}</div>
          <div className="muted small">
            {v.userName || ''}
            {v.department ? ` · ${v.department}` : ''}
          </div>
        </div>
      ),
    },
    {
      key: 'summary',
      header: t.columns.summary,
      className: 'summary-cell',
      render: (v) => (
        <>
          <div>{v.summary}</div>
          {compact ? <div className="muted small">{[v.hostname, v.userName, v.assignee ? `→ ${v.assignee}` : ''].filter(Boolean).join(' · ')}</div> : null}
        </>
      ),
    },
    { key: 'status', header: t.columns.status, render: (v) => <StatusBadge status={v.status} label={t.statuses[v.status] ?? v.status} testId="violation-status" /> },
    { key: 'assignee', header: t.columns.assignee, render: (v) => (v.assignee ? v.assignee : <span className="muted">{t.unassigned}</span>) },
    {
      key: 'open',
      header: <span className="visually-hidden">{t.open}</span>,
      className: 'nowrap',
      render: (v) => (
        <Link to={`/violations/${encodeURIComponent(v.id)}`} data-testid="violation-open" title={t.open} onClick={(event) => event.stopPropagation()}>
          {t.openShort} →
        </Link>
      ),
    },
  ];
  const columns = compact ? allColumns.filter((column) => !['device', 'assignee', 'open'].includes(column.key)) : allColumns;

  const filtered = hasFilters(filters);
  let body;
  if (loading && items.length === 0) body = <p className="muted">…</p>;
  else if (!error && items.length === 0) body = filtered ? <EmptyState title={t.emptyFiltered}>{t.emptyFilteredNext}</EmptyState> : <FirstRun />;
  else
    body = (
      <>
        <Table
          testId="violation-table"
          columns={columns}
          rows={items}
          rowKey={(v) => v.id}
          rowProps={(v) => ({
            'data-testid': 'violation-row',
            'data-violation-id': v.id,
            'data-status': v.status,
            'data-live': flash[v.id],
            className: ['row-link', flash[v.id] ? `row-${flash[v.id]}` : '', v.id === selectedId ? 'row-selected' : ''].filter(Boolean).join(' '),
            'aria-selected': v.id === selectedId,
            tabIndex: 0,
            onClick: () => select(v.id === selectedId ? null : v.id),
            onKeyDown: (event: KeyboardEvent<HTMLTableRowElement>) => {
              if (event.key === 'Enter') select(v.id);
            },
          })}
        />
        <div className="pager">
          {nextCursor ? (
            <Button onClick={() => void loadMore()} busy={loadingMore} data-testid="violations-load-more">
              {loadingMore ? t.loadingMore : t.loadMore}
            </Button>
          ) : items.length > PAGE_SIZE / 2 ? (
            <span className="muted">{t.endOfList}</span>
          ) : null}
        </div>
      </>
    );

  return (
    <Page title={t.title} subtitle={t.subtitle} actions={<LiveIndicator state={stream} />} testId="violations-page">
      <FilterBar filters={filters} agents={agents.data?.items ?? []} onChange={setFilters} />
      <ErrorBanner error={error} onRetry={reload} />
      <div className={selected ? 'feed feed-with-panel' : 'feed'}>
        <div className="feed-list">{body}</div>
        {selected ? (
          <aside className="panel feed-panel" aria-label={t.triage.title}>
            <div className="feed-panel-head">
              <h2>{t.rules[selected.rule] ?? selected.rule}</h2>
              <button type="button" className="button button-quiet" aria-label="×" onClick={() => select(null)}>
                ×
              </button>
            </div>
            <p>{selected.summary}</p>
            <p>
              <Link to={`/violations/${encodeURIComponent(selected.id)}`} data-testid="violation-detail-link">
                {t.open} →
              </Link>
            </p>
            <TriagePanel violation={selected} onChanged={(violation) => changed(violation, false)} />
          </aside>
        ) : items.length > 0 ? (
          <aside className="feed-hint muted">{t.selectHint}</aside>
        ) : null}
      </div>
    </Page>
  );
}

function LiveIndicator({ state }: { state: StreamState }) {
  const t = useMessages(messages);
  return (
    <span className={`live live-${state === 'live' ? 'on' : state === 'offline' ? 'off' : 'wait'}`} data-testid="live-state" data-state={state} role="status">
      {t.live[state]}
    </span>
  );
}

/** The assignee filter's value for "nobody assigned" (never a username: usernames have no spaces). */
const UNASSIGNED = ' unassigned';

function FilterBar({ filters, agents, onChange }: { filters: ViolationFilters; agents: Agent[]; onChange: (filters: ViolationFilters) => void }) {
  const t = useMessages(messages);
  const assignees = useAssignees();
  const [custom, setCustom] = useState(Boolean(filters.since || filters.until));
  const set = (patch: Partial<ViolationFilters>) => {
    const next: ViolationFilters = { ...filters, ...patch };
    for (const key of Object.keys(next) as (keyof ViolationFilters)[]) if (!next[key]) delete next[key];
    onChange(next);
  };
  const rangeValue = filters.range ?? (custom || filters.since || filters.until ? 'custom' : '');
  return (
    <form className="filters" aria-label={t.filters.legend} onSubmit={(event) => event.preventDefault()} data-testid="violation-filters">
      <Field label={t.filters.status}>
        <select data-testid="filter-status" value={filters.status ?? ''} onChange={(event) => set({ status: event.target.value })}>
          <option value="">{t.filters.any}</option>
          {VIOLATION_STATUSES.map((status) => (
            <option key={status} value={status}>
              {t.statuses[status]}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t.filters.severity}>
        <select data-testid="filter-severity" value={filters.severity ?? ''} onChange={(event) => set({ severity: event.target.value })}>
          <option value="">{t.filters.any}</option>
          {VIOLATION_SEVERITIES.map((severity) => (
            <option key={severity} value={severity}>
              {t.severities[severity]}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t.filters.rule}>
        <select data-testid="filter-rule" value={filters.rule ?? ''} onChange={(event) => set({ rule: event.target.value })}>
          <option value="">{t.filters.any}</option>
          {[...VIOLATION_RULES, ...(filters.rule && !(VIOLATION_RULES as readonly string[]).includes(filters.rule) ? [filters.rule] : [])].map((rule) => (
            <option key={rule} value={rule}>
              {t.rules[rule] ?? rule}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t.filters.agent}>
        <select data-testid="filter-agent" value={filters.agentId ?? ''} onChange={(event) => set({ agentId: event.target.value })}>
          <option value="">{agents.length ? t.filters.any : t.noAgents}</option>
          {agents.map((agent) => (
            <option key={agent.id} value={agent.id}>
              {agent.hostname || agent.id}
            </option>
          ))}
          {filters.agentId && !agents.some((agent) => agent.id === filters.agentId) ? <option value={filters.agentId}>{filters.agentId}</option> : null}
        </select>
      </Field>
      <TextFilter label={t.filters.department} testId="filter-department" value={filters.department} onCommit={(department) => set({ department })} />
      <Field label={t.filters.assignee}>
        <select
          data-testid="filter-assignee"
          value={filters.unassigned ? UNASSIGNED : (filters.assignee ?? '')}
          onChange={(event) => {
            const value = event.target.value;
            set(value === UNASSIGNED ? { unassigned: 'true', assignee: undefined } : { assignee: value, unassigned: undefined });
          }}
        >
          <option value="">{t.filters.any}</option>
          <option value={UNASSIGNED}>{t.unassigned}</option>
          {assignees.map((person) => (
            <option key={person.username} value={person.username}>
              {person.displayName && person.displayName !== person.username ? `${person.displayName} (${person.username})` : person.username}
            </option>
          ))}
          {filters.assignee && !assignees.some((person) => person.username === filters.assignee!.toLowerCase()) ? <option value={filters.assignee}>{filters.assignee}</option> : null}
        </select>
      </Field>
      <Field label={t.filters.time}>
        <select
          data-testid="filter-range"
          value={rangeValue}
          onChange={(event) => {
            const value = event.target.value;
            if (value === 'custom') {
              setCustom(true);
              set({ range: undefined });
            } else {
              setCustom(false);
              set({ range: (value || undefined) as TimeRange | undefined, since: undefined, until: undefined });
            }
          }}
        >
          <option value="">{t.filters.any}</option>
          {TIME_RANGES.map((range) => (
            <option key={range} value={range}>
              {t.ranges[range]}
            </option>
          ))}
          <option value="custom">{t.filters.custom}</option>
        </select>
      </Field>
      {rangeValue === 'custom' ? (
        <>
          <Field label={t.filters.since}>
            <input type="datetime-local" data-testid="filter-since" value={toLocalInput(filters.since)} onChange={(event) => set({ since: fromLocalInput(event.target.value) })} />
          </Field>
          <Field label={t.filters.until}>
            <input type="datetime-local" data-testid="filter-until" value={toLocalInput(filters.until)} onChange={(event) => set({ until: fromLocalInput(event.target.value) })} />
          </Field>
        </>
      ) : null}
      {hasFilters(filters) ? (
        <button
          type="button"
          className="button button-quiet"
          data-testid="filter-clear"
          onClick={() => {
            setCustom(false);
            onChange({});
          }}
        >
          {t.filters.clear}
        </button>
      ) : null}
    </form>
  );
}

/** A text filter applied on Enter or when the field is left, so typing does not reload the list per key. */
function TextFilter({ label, testId, value, onCommit }: { label: string; testId: string; value: string | undefined; onCommit: (value: string | undefined) => void }) {
  const t = useMessages(messages);
  const [text, setText] = useState(value ?? '');
  useEffect(() => setText(value ?? ''), [value]);
  const commit = () => {
    const trimmed = text.trim();
    if (trimmed !== (value ?? '')) onCommit(trimmed || undefined);
  };
  return (
    <Field label={label}>
      <input
        data-testid={testId}
        value={text}
        placeholder={t.filters.textHint}
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

function toLocalInput(iso: string | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function fromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** No violation at all and no filter: tell a new user how the first one gets here. */
function FirstRun() {
  const t = useMessages(messages);
  return (
    <EmptyState title={t.emptyTitle} testId="violations-empty" action={<Link to="/devices">{t.emptyDevices} →</Link>}>
      <p>{t.emptyIntro}</p>
      <ol>
        <li>
          {t.emptyStep1}
          <pre className="command">mamori-server tokens create --label "Sales laptops" --uses 300 --expires-in 7d</pre>
        </li>
        <li>
          {t.emptyStep2}
          <pre className="command">{"mamori-agent enroll --server <collector>:50051 --token '<the token>'\nmamori-agent run"}</pre>
        </li>
        <li>{t.emptyStep3}</li>
      </ol>
    </EmptyState>
  );
}
