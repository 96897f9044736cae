import { useEffect, useState } from 'react';
import { api, useApi } from '../../api/client';
import { useLanguage, useMessages } from '../../i18n';
import { useSession } from '../../session';
import { Button, Dialog, EmptyState, ErrorBanner, Field, formatTime, StatusBadge, Table, type Column } from '../../ui';
import { FormProblems, OneTimeSecret, ReasonDialog, useSubmit } from '../shared/components';
import { messages as sharedMessages } from '../shared/messages';
import { messages } from './messages';
import { RoleChecks } from './RoleChecks';
import { itemsOf, orderedRoles, tokenBody, tokenState, type ApiTokenView, type CreatedApiToken } from './users-model';

/** The signed-in user's API tokens (every user's for an admin who asks): create, shown once, revoke. */
export function TokensSection() {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  const session = useSession();
  const [all, setAll] = useState(false);
  const list = useApi<unknown>(all ? '/api-tokens?all=true' : '/api-tokens');
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiTokenView | null>(null);
  const rows = itemsOf<ApiTokenView>(list.data);
  const now = new Date();
  const columns: Column<ApiTokenView>[] = [
    { key: 'name', header: t.tokens.col.name, render: (token) => token.name },
    ...(all ? [{ key: 'owner', header: t.tokens.col.owner, render: (token: ApiTokenView) => token.username ?? token.userId ?? '—' }] : []),
    { key: 'roles', header: t.tokens.col.roles, render: (token) => orderedRoles(token.roles).join(', ') },
    { key: 'created', header: t.tokens.col.created, className: 'nowrap', render: (token) => formatTime(token.createdAt ?? null, lang) },
    { key: 'expires', header: t.tokens.col.expires, className: 'nowrap', render: (token) => formatTime(token.expiresAt, lang) },
    { key: 'lastUsed', header: t.tokens.col.lastUsed, className: 'nowrap', render: (token) => (token.lastUsedAt ? formatTime(token.lastUsedAt, lang) : <span className="muted">{t.tokens.never}</span>) },
    {
      key: 'state',
      header: t.tokens.col.state,
      render: (token) => {
        const state = tokenState(token, now);
        return <StatusBadge status={state} label={t.tokens.states[state]} testId="api-token-state" />;
      },
    },
    {
      key: 'actions',
      header: '',
      className: 'cell-actions',
      render: (token) =>
        tokenState(token, now) === 'active' ? (
          <Button variant="danger" onClick={() => setRevoking(token)} data-testid="api-token-revoke">
            {t.tokens.revoke}
          </Button>
        ) : null,
    },
  ];
  return (
    <section className="panel" data-testid="api-tokens">
      <h2>{t.tokens.title}</h2>
      <p className="muted">{t.tokens.intro}</p>
      <div className="button-row">
        <Button variant="primary" onClick={() => setCreating(true)} data-testid="api-token-create">
          {t.tokens.create}
        </Button>
        {session.hasRole('admin') ? (
          <label className="check-row">
            <span>
              <input type="checkbox" checked={all} onChange={(event) => setAll(event.target.checked)} data-testid="api-token-all" /> {t.tokens.all}
            </span>
          </label>
        ) : null}
      </div>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {list.data !== undefined ? (
        <Table
          testId="api-token-list"
          columns={columns}
          rows={rows}
          rowKey={(token) => token.id}
          rowProps={(token) => ({ 'data-testid': 'api-token-row', 'data-token-id': token.id })}
          empty={
            <EmptyState title={t.tokens.emptyTitle} testId="api-tokens-empty">
              <p>{t.tokens.emptyNext}</p>
            </EmptyState>
          }
        />
      ) : null}
      <CreateTokenDialog open={creating} onClose={() => setCreating(false)} onDone={list.reload} />
      <ReasonDialog
        open={revoking !== null}
        title={revoking ? t.tokens.revokeTitle(revoking.name) : ''}
        intro={<p>{t.tokens.revokeIntro}</p>}
        confirmLabel={t.tokens.revoke}
        withReason={false}
        testIdPrefix="api-token-revoke"
        onClose={() => setRevoking(null)}
        onConfirm={async () => {
          await api.send('DELETE', `/api-tokens/${revoking!.id}`);
          list.reload();
        }}
      />
    </section>
  );
}

function CreateTokenDialog({ open, onClose, onDone }: { open: boolean; onClose: () => void; onDone: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const session = useSession();
  const [name, setName] = useState('');
  const [roles, setRoles] = useState<string[]>([]);
  const [days, setDays] = useState('90');
  const [created, setCreated] = useState<CreatedApiToken | null>(null);
  const submit = useSubmit(['name', 'roles', 'expiresInDays']);
  useEffect(() => {
    if (!open) return;
    submit.reset();
    setCreated(null);
    setName('');
    setRoles([]);
    setDays('90');
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);
  const create = async () => {
    const checked = tokenBody({ name, roles, expiresInDays: days }, session.user.roles);
    if (!checked.ok) {
      submit.setFieldErrors(Object.fromEntries(checked.problems.map((problem) => [problem.field, t.problems[problem.problem]])));
      return;
    }
    await submit.run(async () => {
      setCreated(await api.send<CreatedApiToken>('POST', '/api-tokens', checked.body));
      onDone();
    });
  };
  const e = submit.fieldErrors;
  return (
    <Dialog
      open={open}
      title={created ? t.tokens.createdTitle : t.tokens.createTitle}
      onClose={onClose}
      testId="api-token-form"
      actions={
        created ? (
          <Button variant="primary" onClick={onClose} data-testid="api-token-done">
            {t.tokens.done}
          </Button>
        ) : (
          <>
            <Button onClick={onClose}>{s.cancel}</Button>
            <Button variant="primary" busy={submit.busy} onClick={() => void create()} data-testid="api-token-form-submit">
              {t.tokens.submit}
            </Button>
          </>
        )
      }
    >
      <div className="dialog-wide">
        {created ? (
          <OneTimeSecret testId="api-token-created" items={[{ label: t.tokens.token, value: created.token, testId: 'api-token-secret' }]} />
        ) : (
          <>
            <FormProblems messages={submit.formMessages} error={submit.error} />
            <Field label={t.tokens.name} hint={t.tokens.nameHint} error={e.name}>
              <input type="text" value={name} onChange={(event) => setName(event.target.value)} data-testid="api-token-form-name" />
            </Field>
            <fieldset className="field">
              <legend>{t.tokens.roles}</legend>
              <p className="field-hint">{t.tokens.rolesHint}</p>
              <RoleChecks value={roles} onChange={setRoles} allowed={session.user.roles} testIdPrefix="api-token-form-role" />
              {e.roles ? <p className="field-error">{e.roles}</p> : null}
            </fieldset>
            <Field label={t.tokens.days} hint={t.tokens.daysHint} error={e.expiresInDays}>
              <input type="number" min={1} max={365} value={days} onChange={(event) => setDays(event.target.value)} data-testid="api-token-form-days" />
            </Field>
          </>
        )}
      </div>
    </Dialog>
  );
}
