import { useEffect, useState } from 'react';
import { api, useApi } from '../../api/client';
import { useLanguage, useMessages } from '../../i18n';
import { Button, Dialog, EmptyState, ErrorBanner, Field, formatTime, StatusBadge, Table, type Column } from '../../ui';
import { FormProblems, OneTimeSecret, ReasonDialog, useSubmit } from '../shared/components';
import { messages as sharedMessages } from '../shared/messages';
import { tokenBody, type CreatedEnrollmentToken, type EnrollmentToken, type TokenForm } from './devices-model';
import { messages } from './messages';

/** Enrollment tokens: list; create (the secret shown once) and revoke for it. */
export function TokensTab({ creating, onCreate, onCreateDone }: { creating: boolean; onCreate: () => void; onCreateDone: () => void }) {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  const list = useApi<{ items: EnrollmentToken[] }>('/enrollment-tokens');
  const [revoking, setRevoking] = useState<EnrollmentToken | null>(null);
  const columns: Column<EnrollmentToken>[] = [
    { key: 'label', header: t.tokens.col.label, render: (token) => token.label || <span className="muted">{t.tokens.untitled}</span> },
    { key: 'state', header: t.tokens.col.state, render: (token) => <StatusBadge status={token.state === 'used_up' ? 'expired' : token.state} label={t.tokens.states[token.state] ?? token.state} testId="enrollment-token-state" /> },
    { key: 'zone', header: t.tokens.col.zone, render: (token) => token.zone ?? <span className="muted">{t.tokens.anyZone}</span> },
    { key: 'uses', header: t.tokens.col.uses, className: 'num', render: (token) => `${token.uses} / ${token.maxUses ?? t.tokens.unlimited}` },
    { key: 'created', header: t.tokens.col.created, className: 'nowrap', render: (token) => formatTime(token.createdAt, lang) },
    { key: 'expires', header: t.tokens.col.expires, className: 'nowrap', render: (token) => formatTime(token.expiresAt, lang) },
    {
      key: 'actions',
      header: '',
      className: 'cell-actions',
      render: (token) =>
        token.state === 'active' ? (
          <Button variant="danger" requires={['it']} onClick={() => setRevoking(token)} data-testid="enrollment-token-revoke">
            {t.tokens.revoke}
          </Button>
        ) : null,
    },
  ];
  return (
    <>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {list.data ? (
        <Table
          testId="enrollment-tokens"
          columns={columns}
          rows={list.data.items}
          rowKey={(token) => token.id}
          rowProps={(token) => ({ 'data-testid': 'enrollment-token-row', 'data-token-id': token.id, 'data-state': token.state })}
          empty={
            <EmptyState
              title={t.tokens.emptyTitle}
              testId="enrollment-tokens-empty"
              action={
                <Button variant="primary" requires={['it']} onClick={onCreate}>
                  {t.tokens.create}
                </Button>
              }
            >
              <p>{t.tokens.emptyNext}</p>
            </EmptyState>
          }
        />
      ) : null}
      <CreateDialog open={creating} onClose={onCreateDone} onDone={list.reload} />
      <ReasonDialog
        open={revoking !== null}
        title={revoking ? t.tokens.revokeTitle(revoking.label || t.tokens.untitled) : ''}
        intro={<p>{t.tokens.revokeIntro}</p>}
        confirmLabel={t.tokens.revoke}
        requires={['it']}
        withReason={false}
        testIdPrefix="enrollment-token-revoke"
        onClose={() => setRevoking(null)}
        onConfirm={async () => {
          await api.send('POST', `/enrollment-tokens/${revoking!.id}/revoke`);
          list.reload();
        }}
      />
    </>
  );
}

function CreateDialog({ open, onClose, onDone }: { open: boolean; onClose: () => void; onDone: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const [form, setForm] = useState<TokenForm>({ label: '', maxUses: '', lifetimeHours: '24', zone: '' });
  const [created, setCreated] = useState<CreatedEnrollmentToken | null>(null);
  const zones = useApi<{ items: Array<{ name: string }> }>(open ? '/zones' : null);
  const submit = useSubmit(['label', 'maxUses', 'expiresInSeconds', 'zone']);
  useEffect(() => {
    if (!open) return;
    submit.reset();
    setCreated(null);
    setForm({ label: '', maxUses: '', lifetimeHours: '24', zone: '' });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);
  const create = async () => {
    const checked = tokenBody(form);
    if (!checked.ok) {
      submit.setFieldErrors({ [checked.field]: t.tokens.problems[checked.field] });
      return;
    }
    await submit.run(async () => {
      setCreated(await api.send<CreatedEnrollmentToken>('POST', '/enrollment-tokens', checked.body));
      onDone();
    });
  };
  const e = submit.fieldErrors;
  return (
    <Dialog
      open={open}
      title={created ? t.tokens.createdTitle : t.tokens.createTitle}
      onClose={onClose}
      testId="enrollment-token-form"
      actions={
        created ? (
          <Button variant="primary" onClick={onClose} data-testid="enrollment-token-done">
            {t.tokens.done}
          </Button>
        ) : (
          <>
            <Button onClick={onClose}>{s.cancel}</Button>
            <Button variant="primary" requires={['it']} busy={submit.busy} onClick={() => void create()} data-testid="enrollment-token-form-submit">
              {t.tokens.submit}
            </Button>
          </>
        )
      }
    >
      <div className="dialog-wide">
        {created ? (
          <OneTimeSecret
            testId="enrollment-token-created"
            items={[
              { label: t.tokens.token, value: created.token, testId: 'enrollment-token-secret' },
              { label: t.tokens.command, value: created.enrollCommand, testId: 'enrollment-token-command' },
              { label: t.tokens.caPin, value: created.caPin, testId: 'enrollment-token-ca-pin' },
            ]}
          />
        ) : (
          <>
            <FormProblems messages={submit.formMessages} error={submit.error} />
            <Field label={t.tokens.label} hint={t.tokens.labelHint} error={e.label}>
              <input type="text" value={form.label} onChange={(event) => setForm({ ...form, label: event.target.value })} data-testid="enrollment-token-form-label" />
            </Field>
            <div className="form-grid">
              <Field label={t.tokens.maxUses} hint={t.tokens.maxUsesHint} error={e.maxUses}>
                <input type="number" min={1} value={form.maxUses} onChange={(event) => setForm({ ...form, maxUses: event.target.value })} data-testid="enrollment-token-form-uses" />
              </Field>
              <Field label={t.tokens.lifetime} hint={t.tokens.lifetimeHint} error={e.lifetimeHours ?? e.expiresInSeconds}>
                <input type="number" min={1} max={8760} value={form.lifetimeHours} onChange={(event) => setForm({ ...form, lifetimeHours: event.target.value })} data-testid="enrollment-token-form-hours" />
              </Field>
            </div>
            <Field label={t.tokens.zone} hint={t.tokens.zoneHint} error={e.zone}>
              <select value={form.zone} onChange={(event) => setForm({ ...form, zone: event.target.value })} data-testid="enrollment-token-form-zone">
                <option value="">{t.tokens.anyZone}</option>
                {(zones.data?.items ?? []).map((zone) => (
                  <option key={zone.name} value={zone.name}>
                    {zone.name}
                  </option>
                ))}
              </select>
            </Field>
            <ErrorBanner error={zones.error} />
          </>
        )}
      </div>
    </Dialog>
  );
}
