import { useEffect, useState } from 'react';
import { api, useApi } from '../../api/client';
import { useLanguage, useMessages } from '../../i18n';
import { useSession } from '../../session';
import { Button, Dialog, EmptyState, ErrorBanner, Field, formatTime, StatusBadge, Table, type Column } from '../../ui';
import { ExpiryInput, FormProblems, ReasonDialog, useSubmit } from '../shared/components';
import { expiryProblem, localInputDaysFrom, localInputToIso } from '../shared/forms';
import { messages as sharedMessages } from '../shared/messages';
import { messages } from './messages';
import { deviceId, EXCEPTION_FILTERS, EXCEPTION_MODES, exceptionActions, exceptionBody, exceptionState, type UsbException } from './usb-model';

interface AgentSummary {
  id: string;
  hostname: string;
  status: string;
}

const FIELDS = ['vendorId', 'productId', 'serial', 'agentId', 'userName', 'notBefore', 'notAfter', 'justification', 'mode'];

/** Time-boxed exceptions: request (admin, it, security), approve / reject (approver), revoke (admin, approver). */
export function ExceptionsTab({ requesting, onRequestDone, onRequest }: { requesting: boolean; onRequestDone: () => void; onRequest: () => void }) {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  const session = useSession();
  const [status, setStatus] = useState('');
  const list = useApi<{ items: UsbException[]; nextCursor: string | null }>(`/usb-exceptions?limit=200${status === '' ? '' : `&status=${status}`}`);
  // Approvers may not read the agent list (403): then agents show by id and the request form takes an id.
  const agents = useApi<{ items: AgentSummary[] }>(session.hasAnyRole(['admin', 'security', 'auditor', 'it']) ? '/agents' : null);
  const hostOf = (id: string) => agents.data?.items.find((agent) => agent.id === id)?.hostname;
  const [approving, setApproving] = useState<UsbException | null>(null);
  const [rejecting, setRejecting] = useState<UsbException | null>(null);
  const [revoking, setRevoking] = useState<UsbException | null>(null);
  const me = session.user.username.toLowerCase();

  const columns: Column<UsbException>[] = [
    {
      key: 'device',
      header: t.col.device,
      render: (item) => (
        <>
          <code>{deviceId(item)}</code>
          <span className="cell-sub wrap-anywhere">{item.serial}</span>
        </>
      ),
    },
    {
      key: 'agent',
      header: t.col.agent,
      render: (item) => (
        <>
          {hostOf(item.agentId) ?? <code className="wrap-anywhere">{item.agentId}</code>}
          <span className="cell-sub">{item.userName ?? t.anyUser}</span>
        </>
      ),
    },
    {
      key: 'period',
      header: t.col.period,
      className: 'nowrap',
      render: (item) => (
        <>
          {formatTime(item.notBefore, lang)}
          <span className="cell-sub">→ {formatTime(item.notAfter, lang)}</span>
          {item.requestedNotAfter !== item.notAfter ? <span className="cell-sub">{t.exceptions.shortened(formatTime(item.requestedNotAfter, lang))}</span> : null}
        </>
      ),
    },
    { key: 'mode', header: t.col.mode, render: (item) => t.exceptions.modes[item.mode] ?? item.mode },
    { key: 'justification', header: t.exceptions.justification, render: (item) => <span className="wrap-anywhere">{item.justification}</span> },
    {
      key: 'requested',
      header: t.col.requested,
      className: 'nowrap',
      render: (item) => (
        <>
          {item.requestedBy}
          <span className="cell-sub">{formatTime(item.requestedAt, lang)}</span>
        </>
      ),
    },
    {
      key: 'state',
      header: t.col.state,
      render: (item) => {
        const state = exceptionState(item);
        const who = item.revokedBy ?? item.rejectedBy ?? item.approvedBy;
        const why = item.revocationReason ?? item.rejectionReason;
        return (
          <>
            <StatusBadge status={state === 'scheduled' ? 'approved' : state} label={t.exceptions.states[state] ?? state} testId="usb-exception-state" />
            {who ? <span className="cell-sub">{t.exceptions.by(who)}</span> : null}
            {why ? <span className="cell-sub wrap-anywhere">{why}</span> : null}
          </>
        );
      },
    },
    {
      key: 'actions',
      header: '',
      className: 'cell-actions',
      render: (item) => {
        const can = exceptionActions(item);
        const own = item.requestedBy.toLowerCase() === me;
        return (
          <>
            {can.decide ? (
              <>
                <Button variant="primary" requires={['approver']} disabled={own} title={own ? t.exceptions.ownRequest : undefined} onClick={() => setApproving(item)} data-testid="usb-exception-approve">
                  {t.exceptions.approve}
                </Button>
                <Button requires={['approver']} disabled={own} title={own ? t.exceptions.ownRequest : undefined} onClick={() => setRejecting(item)} data-testid="usb-exception-reject">
                  {t.exceptions.reject}
                </Button>
              </>
            ) : null}
            {can.revoke ? (
              <Button variant="danger" requires={['admin', 'approver']} onClick={() => setRevoking(item)} data-testid="usb-exception-revoke">
                {t.exceptions.revoke}
              </Button>
            ) : null}
          </>
        );
      },
    },
  ];

  return (
    <>
      <div className="filters">
        <Field label={t.exceptions.filter}>
          <select value={status} onChange={(event) => setStatus(event.target.value)} data-testid="usb-exception-filter">
            {EXCEPTION_FILTERS.map((value) => (
              <option key={value} value={value}>
                {value === '' ? t.exceptions.all : (t.exceptions.states[value] ?? value)}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {list.data ? (
        <Table
          testId="usb-exceptions"
          columns={columns}
          rows={list.data.items}
          rowKey={(item) => item.id}
          rowProps={(item) => ({ 'data-testid': 'usb-exception-row', 'data-exception-id': item.id, 'data-status': item.status })}
          empty={
            <EmptyState
              title={status === '' ? t.exceptions.emptyTitle : t.exceptions.emptyFilteredTitle}
              testId="usb-exceptions-empty"
              action={
                <Button requires={['admin', 'it', 'security']} onClick={onRequest}>
                  {t.request}
                </Button>
              }
            >
              <p>{t.exceptions.emptyNext}</p>
            </EmptyState>
          }
        />
      ) : null}
      <RequestDialog open={requesting} agents={agents.data?.items ?? null} onClose={onRequestDone} onDone={list.reload} />
      <ApproveDialog item={approving} onClose={() => setApproving(null)} onDone={list.reload} />
      <ReasonDialog
        open={rejecting !== null}
        title={rejecting ? t.exceptions.rejectTitle(deviceId(rejecting)) : ''}
        confirmLabel={t.exceptions.reject}
        requires={['approver']}
        testIdPrefix="usb-exception-reject"
        onClose={() => setRejecting(null)}
        onConfirm={async (reason) => {
          await api.send('POST', `/usb-exceptions/${rejecting!.id}/reject`, { rejectedBy: session.user.username, reason });
          list.reload();
        }}
      />
      <ReasonDialog
        open={revoking !== null}
        title={revoking ? t.exceptions.revokeTitle(deviceId(revoking)) : ''}
        intro={<p>{t.exceptions.revokeIntro}</p>}
        confirmLabel={t.exceptions.revoke}
        requires={['admin', 'approver']}
        testIdPrefix="usb-exception-revoke"
        onClose={() => setRevoking(null)}
        onConfirm={async (reason) => {
          await api.send('POST', `/usb-exceptions/${revoking!.id}/revoke`, { revokedBy: session.user.username, reason });
          list.reload();
        }}
      />
    </>
  );
}

function ApproveDialog({ item, onClose, onDone }: { item: UsbException | null; onClose: () => void; onDone: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const { lang } = useLanguage();
  const session = useSession();
  const [end, setEnd] = useState('');
  const submit = useSubmit(['notAfter']);
  useEffect(() => {
    setEnd('');
    submit.reset();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [item]);
  const approve = async () => {
    if (item === null) return;
    const problem = expiryProblem(end, new Date(), item.notAfter);
    if (problem !== null) {
      submit.setFieldErrors({ notAfter: problem === 'invalid' ? s.expiryInvalid : problem === 'past' ? s.expiryPast : s.expiryLater });
      return;
    }
    const iso = localInputToIso(end);
    if (await submit.run(async () => void (await api.send('POST', `/usb-exceptions/${item.id}/approve`, { approvedBy: session.user.username, ...(iso ? { notAfter: iso } : {}) })))) {
      onClose();
      onDone();
    }
  };
  return (
    <Dialog
      open={item !== null}
      title={item ? t.exceptions.approveTitle(deviceId(item)) : ''}
      onClose={onClose}
      testId="usb-exception-approve-dialog"
      actions={
        <>
          <Button onClick={onClose}>{s.cancel}</Button>
          <Button variant="primary" requires={['approver']} busy={submit.busy} onClick={() => void approve()} data-testid="usb-exception-approve-confirm">
            {t.exceptions.approve}
          </Button>
        </>
      }
    >
      {item ? (
        <div className="dialog-wide">
          <p>{t.exceptions.approveIntro}</p>
          <p className="wrap-anywhere">
            <strong>{item.requestedBy}</strong>: {item.justification}
          </p>
          <p className="muted">{t.exceptions.requestedEnd(formatTime(item.notAfter, lang))}</p>
          <FormProblems messages={submit.formMessages} error={submit.error} />
          <Field label={t.exceptions.shorten} hint={t.exceptions.shortenHint} error={submit.fieldErrors.notAfter}>
            <ExpiryInput value={end} onChange={setEnd} presets={[1, 3, 7]} testId="usb-exception-approve-end" />
          </Field>
        </div>
      ) : null}
    </Dialog>
  );
}

function RequestDialog({ open, agents, onClose, onDone }: { open: boolean; agents: AgentSummary[] | null; onClose: () => void; onDone: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const session = useSession();
  const [form, setForm] = useState({ vendorId: '', productId: '', serial: '', agentId: '', userName: '', notBefore: '', notAfter: '', justification: '', mode: 'allow' });
  const submit = useSubmit(FIELDS);
  useEffect(() => {
    if (!open) return;
    submit.reset();
    setForm({ vendorId: '', productId: '', serial: '', agentId: '', userName: '', notBefore: '', notAfter: localInputDaysFrom(new Date(), 3), justification: '', mode: 'allow' });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);
  const set = (key: keyof typeof form, value: string) => setForm((current) => ({ ...current, [key]: value }));
  const send = async () => {
    const checked = exceptionBody({ ...form, notBefore: localInputToIso(form.notBefore), notAfter: localInputToIso(form.notAfter) }, new Date());
    if (!checked.ok) {
      submit.setFieldErrors(Object.fromEntries(checked.problems.map((problem) => [problem.field, t.problems[problem.problem]])));
      return;
    }
    const ok = await submit.run(async () => {
      await api.send('POST', '/usb-exceptions', { ...checked.body, requestedBy: session.user.username });
    });
    if (ok) {
      onClose();
      onDone();
    }
  };
  const e = submit.fieldErrors;
  const enrolled = agents?.filter((agent) => agent.status === 'enrolled') ?? null;
  return (
    <Dialog
      open={open}
      title={t.exceptions.requestTitle}
      onClose={onClose}
      testId="usb-exception-form"
      actions={
        <>
          <Button onClick={onClose}>{s.cancel}</Button>
          <Button variant="primary" requires={['admin', 'it', 'security']} busy={submit.busy} onClick={() => void send()} data-testid="usb-exception-form-submit">
            {t.exceptions.submit}
          </Button>
        </>
      }
    >
      <div className="dialog-wide">
        <p className="muted">{t.exceptions.requestIntro}</p>
        <FormProblems messages={submit.formMessages} error={submit.error} />
        <div className="form-grid">
          <Field label={t.form.vendorId} error={e.vendorId}>
            <input type="text" value={form.vendorId} onChange={(event) => set('vendorId', event.target.value)} placeholder="0781" data-testid="usb-exception-form-vendor" />
          </Field>
          <Field label={t.form.productId} error={e.productId}>
            <input type="text" value={form.productId} onChange={(event) => set('productId', event.target.value)} placeholder="5567" data-testid="usb-exception-form-product" />
          </Field>
          <Field label={t.form.serial} error={e.serial}>
            <input type="text" value={form.serial} onChange={(event) => set('serial', event.target.value)} data-testid="usb-exception-form-serial" />
          </Field>
          <Field label={t.exceptions.agent} hint={enrolled ? t.exceptions.agentHint : t.exceptions.agentIdHint} error={e.agentId}>
            {enrolled ? (
              <select value={form.agentId} onChange={(event) => set('agentId', event.target.value)} data-testid="usb-exception-form-agent">
                <option value="">{t.exceptions.chooseAgent}</option>
                {enrolled.map((agent) => (
                  <option key={agent.id} value={agent.id}>
                    {agent.hostname} ({agent.id.slice(0, 8)})
                  </option>
                ))}
              </select>
            ) : (
              <input type="text" value={form.agentId} onChange={(event) => set('agentId', event.target.value)} data-testid="usb-exception-form-agent" />
            )}
          </Field>
          <Field label={t.exceptions.userName} hint={t.exceptions.userHint} error={e.userName}>
            <input type="text" value={form.userName} onChange={(event) => set('userName', event.target.value)} data-testid="usb-exception-form-user" />
          </Field>
          <Field label={t.exceptions.mode} error={e.mode}>
            <select value={form.mode} onChange={(event) => set('mode', event.target.value)} data-testid="usb-exception-form-mode">
              {EXCEPTION_MODES.map((mode) => (
                <option key={mode} value={mode}>
                  {t.exceptions.modes[mode]}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t.exceptions.notBefore} hint={t.exceptions.notBeforeHint} error={e.notBefore}>
            <input type="datetime-local" value={form.notBefore} onChange={(event) => set('notBefore', event.target.value)} data-testid="usb-exception-form-start" />
          </Field>
          <Field label={t.exceptions.notAfter} error={e.notAfter}>
            <ExpiryInput value={form.notAfter} onChange={(value) => set('notAfter', value)} presets={[1, 3, 7, 14]} allowNone={false} testId="usb-exception-form-end" />
          </Field>
          <div className="form-wide">
            <Field label={t.exceptions.justification} error={e.justification}>
              <textarea rows={3} value={form.justification} onChange={(event) => set('justification', event.target.value)} data-testid="usb-exception-form-justification" />
            </Field>
          </div>
        </div>
      </div>
    </Dialog>
  );
}
