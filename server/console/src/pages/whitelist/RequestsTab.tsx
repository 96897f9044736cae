import { useEffect, useState } from 'react';
import { api, useApi } from '../../api/client';
import { useLanguage, useMessages } from '../../i18n';
import { useSession } from '../../session';
import { Button, Dialog, EmptyState, ErrorBanner, Field, formatTime, StatusBadge, Table, type Column } from '../../ui';
import { ExpiryInput, FormProblems, ReasonDialog, useSubmit } from '../shared/components';
import { expiryProblem, localInputToIso } from '../shared/forms';
import { messages as sharedMessages } from '../shared/messages';
import { messages } from './messages';
import { destinationTarget, formatPorts, orderRequests, type Page, type WhitelistRequest } from './whitelist-model';

/** The request queue: pending first (longest waiting on top), approve / reject for approvers, withdraw for the requester. */
export function RequestsTab({ generation, onRequest, onChanged }: { generation: number; onRequest: () => void; onChanged: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const { lang } = useLanguage();
  const session = useSession();
  const [status, setStatus] = useState('');
  const list = useApi<Page<WhitelistRequest>>(`/whitelist/requests?limit=200${status === '' ? '' : `&status=${status}`}`);
  const [approving, setApproving] = useState<WhitelistRequest | null>(null);
  const [rejecting, setRejecting] = useState<WhitelistRequest | null>(null);
  const [withdrawing, setWithdrawing] = useState<WhitelistRequest | null>(null);
  useEffect(() => {
    if (generation > 0) list.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [generation]);

  const me = session.user.username.toLowerCase();
  const rows = orderRequests(list.data?.items ?? []);
  const columns: Column<WhitelistRequest>[] = [
    {
      key: 'destination',
      header: t.col.destination,
      render: (request) => (
        <span className="wrap-anywhere">
          <code>{destinationTarget(request)}</code>
          <span className="cell-sub">
            {request.ports.length === 0 ? t.allPorts : formatPorts(request.ports)} · {request.protocol} / {request.service} · {request.zone === '' ? s.everyZone : request.zone}
          </span>
        </span>
      ),
    },
    { key: 'justification', header: t.col.justification, render: (request) => <span className="wrap-anywhere">{request.justification}</span> },
    {
      key: 'requested',
      header: t.col.requested,
      className: 'nowrap',
      render: (request) => (
        <>
          {formatTime(request.requestedAt, lang)}
          <span className="cell-sub">{t.requests.filed(request.requestedBy)}</span>
        </>
      ),
    },
    {
      key: 'expires',
      header: t.col.expires,
      className: 'nowrap',
      render: (request) => formatTime(request.approvedExpiresAt ?? request.requestedExpiresAt, lang),
    },
    {
      key: 'decision',
      header: t.col.decision,
      render: (request) => (
        <>
          <StatusBadge status={request.status} label={t.statuses[request.status] ?? request.status} testId="request-status" />
          {request.decidedBy ? <span className="cell-sub">{t.requests.decidedBy(request.decidedBy)}</span> : null}
          {request.decisionReason ? <span className="cell-sub wrap-anywhere">{request.decisionReason}</span> : null}
        </>
      ),
    },
    {
      key: 'actions',
      header: '',
      className: 'cell-actions',
      render: (request) => {
        if (request.status !== 'pending') return null;
        const own = request.requestedBy.toLowerCase() === me;
        return (
          <>
            <>
                <Button
                  variant="primary"
                  requires={['approver']}
                  disabled={own}
                  title={own ? t.requests.ownRequest : undefined}
                  onClick={() => setApproving(request)}
                  data-testid="request-approve"
                >
                  {t.requests.approve}
                </Button>
                <Button requires={['approver']} disabled={own} title={own ? t.requests.ownRequest : undefined} onClick={() => setRejecting(request)} data-testid="request-reject">
                  {t.requests.reject}
                </Button>
            </>
            {own ? (
              <Button variant="quiet" requires={['admin', 'it', 'security']} onClick={() => setWithdrawing(request)} data-testid="request-withdraw">
                {t.requests.withdraw}
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
        <Field label={t.status}>
          <select value={status} onChange={(event) => setStatus(event.target.value)} data-testid="request-status-filter">
            <option value="">{t.statuses.all}</option>
            {['pending', 'approved', 'rejected', 'withdrawn'].map((value) => (
              <option key={value} value={value}>
                {t.statuses[value]}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {list.data ? (
        <Table
          testId="whitelist-requests"
          columns={columns}
          rows={rows}
          rowKey={(request) => request.id}
          rowProps={(request) => ({ 'data-testid': 'request-row', 'data-request-id': request.id, 'data-status': request.status })}
          empty={
            <EmptyState
              title={status === '' ? t.requests.emptyTitle : t.requests.emptyFilteredTitle}
              testId="whitelist-requests-empty"
              action={
                <Button requires={['admin', 'it', 'security']} onClick={onRequest}>
                  {t.fileRequest}
                </Button>
              }
            >
              <p>{t.requests.emptyNext}</p>
            </EmptyState>
          }
        />
      ) : null}
      <ApproveDialog request={approving} onClose={() => setApproving(null)} onDone={onChanged} />
      <ReasonDialog
        open={rejecting !== null}
        title={rejecting ? t.requests.rejectTitle(destinationTarget(rejecting)) : ''}
        intro={<p>{t.requests.rejectIntro}</p>}
        confirmLabel={t.requests.confirmReject}
        requires={['approver']}
        testIdPrefix="request-reject"
        onClose={() => setRejecting(null)}
        onConfirm={async (reason) => {
          await api.send('POST', `/whitelist/requests/${rejecting!.id}/reject`, { rejectedBy: session.user.username, reason });
          onChanged();
        }}
      />
      <ReasonDialog
        open={withdrawing !== null}
        title={withdrawing ? t.requests.withdrawTitle(destinationTarget(withdrawing)) : ''}
        confirmLabel={t.requests.confirmWithdraw}
        requires={['admin', 'it', 'security']}
        reasonRequired={false}
        testIdPrefix="request-withdraw"
        onClose={() => setWithdrawing(null)}
        onConfirm={async (reason) => {
          await api.send('POST', `/whitelist/requests/${withdrawing!.id}/withdraw`, { withdrawnBy: session.user.username, ...(reason === '' ? {} : { reason }) });
          onChanged();
        }}
      />
    </>
  );
}

/** Approve, optionally with an earlier end than requested. */
function ApproveDialog({ request, onClose, onDone }: { request: WhitelistRequest | null; onClose: () => void; onDone: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const { lang } = useLanguage();
  const session = useSession();
  const [end, setEnd] = useState('');
  const submit = useSubmit(['expiresAt']);
  useEffect(() => {
    setEnd('');
    submit.reset();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [request]);
  const approve = async () => {
    if (request === null) return;
    const problem = expiryProblem(end, new Date(), request.requestedExpiresAt);
    if (problem !== null) {
      submit.setFieldErrors({ expiresAt: problem === 'invalid' ? s.expiryInvalid : problem === 'past' ? s.expiryPast : s.expiryLater });
      return;
    }
    const iso = localInputToIso(end);
    const ok = await submit.run(async () => {
      await api.send('POST', `/whitelist/requests/${request.id}/approve`, { approvedBy: session.user.username, ...(iso ? { expiresAt: iso } : {}) });
    });
    if (ok) {
      onClose();
      onDone();
    }
  };
  return (
    <Dialog
      open={request !== null}
      title={request ? t.requests.approveTitle(destinationTarget(request)) : ''}
      onClose={onClose}
      testId="request-approve-dialog"
      actions={
        <>
          <Button onClick={onClose}>{s.cancel}</Button>
          <Button variant="primary" requires={['approver']} busy={submit.busy} onClick={() => void approve()} data-testid="request-approve-confirm">
            {t.requests.confirmApprove}
          </Button>
        </>
      }
    >
      {request ? (
        <div className="dialog-wide">
          <p>{t.requests.approveIntro}</p>
          <p className="wrap-anywhere">
            <strong>{request.requestedBy}</strong>: {request.justification}
          </p>
          <p className="muted">{request.requestedExpiresAt ? t.requests.requestedEnd(formatTime(request.requestedExpiresAt, lang)) : t.requests.noRequestedEnd}</p>
          <FormProblems messages={submit.formMessages} error={submit.error} />
          <Field label={t.requests.shorten} hint={t.requests.shortenHint} error={submit.fieldErrors.expiresAt}>
            <ExpiryInput value={end} onChange={setEnd} presets={[1, 7, 30]} testId="request-approve-expires" />
          </Field>
        </div>
      ) : null}
    </Dialog>
  );
}
