import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import type { Violation } from '../../api/types';
import { useMessages } from '../../i18n';
import { useSession } from '../../session';
import { Button, ErrorBanner, Field, StatusBadge } from '../../ui';
import { messages } from './messages';
import { useAssignees } from './useAssignees';

const TRIAGER = ['security'] as const;

/**
 * Acknowledge, assign, resolve with a note, mark false positive (and reopen). The buttons need the
 * role security (disabled with a tooltip otherwise; the server checks again). `onChanged` gets
 * the violation as the server answered.
 */
export function TriagePanel({ violation, onChanged }: { violation: Violation; onChanged: (violation: Violation) => void }) {
  const t = useMessages(messages);
  const session = useSession();
  const [note, setNote] = useState('');
  const assignees = useAssignees();
  const [assignee, setAssignee] = useState(violation.assignee ?? '');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [noteError, setNoteError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);

  // Another violation selected: start clean.
  useEffect(() => {
    setNote('');
    setError(undefined);
    setNoteError(null);
    setSaved(null);
  }, [violation.id]);
  useEffect(() => {
    setAssignee(violation.assignee ?? '');
  }, [violation.id, violation.assignee]);

  const patch = async (what: string, body: { status?: string; note?: string; assignee?: string | null }) => {
    setBusy(what);
    setError(undefined);
    setSaved(null);
    try {
      const updated = await api.send<Violation>('PATCH', `/violations/${encodeURIComponent(violation.id)}`, body);
      onChanged(updated);
      setSaved(what);
      if (body.note !== undefined) setNote('');
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  };

  const withNote = (body: { status?: string }) => (note.trim() ? { ...body, note: note.trim() } : body);
  const resolve = () => {
    if (!note.trim()) {
      setNoteError(t.triage.noteRequired);
      return;
    }
    setNoteError(null);
    void patch(t.triage.resolve, { status: 'resolved', note: note.trim() });
  };
  const assign = (event?: FormEvent) => {
    event?.preventDefault();
    const name = assignee.trim();
    void patch(name ? `${t.triage.assign} → ${name}` : t.triage.unassign, { assignee: name || null });
  };

  const status = violation.status;
  return (
    <div className="triage" data-testid="triage-panel" data-violation-id={violation.id}>
      <div className="triage-status">
        <StatusBadge status={status} label={t.statuses[status] ?? status} testId="violation-status" />
        {violation.assignee ? <span className="muted"> · {violation.assignee}</span> : null}
      </div>
      <ErrorBanner error={error} />
      {saved ? (
        <div className="notice" role="status" data-testid="triage-result">
          {t.triage.saved(saved)}
        </div>
      ) : null}
      <div className="button-row triage-actions">
        <Button requires={TRIAGER} busy={busy === t.triage.acknowledge} disabled={status === 'acknowledged' || busy !== null} data-testid="triage-acknowledge" onClick={() => void patch(t.triage.acknowledge, withNote({ status: 'acknowledged' }))}>
          {t.triage.acknowledge}
        </Button>
        <Button requires={TRIAGER} variant="primary" busy={busy === t.triage.resolve} disabled={status === 'resolved' || busy !== null} data-testid="triage-resolve" onClick={resolve}>
          {t.triage.resolve}
        </Button>
        <Button requires={TRIAGER} busy={busy === t.triage.falsePositive} disabled={status === 'false_positive' || busy !== null} data-testid="triage-false-positive" onClick={() => void patch(t.triage.falsePositive, withNote({ status: 'false_positive' }))}>
          {t.triage.falsePositive}
        </Button>
        {status !== 'open' ? (
          <Button requires={TRIAGER} variant="quiet" busy={busy === t.triage.reopen} disabled={busy !== null} data-testid="triage-reopen" onClick={() => void patch(t.triage.reopen, withNote({ status: 'open' }))}>
            {t.triage.reopen}
          </Button>
        ) : null}
      </div>
      <Field label={t.triage.note} hint={t.triage.noteHint} error={noteError}>
        <textarea data-testid="triage-note" value={note} maxLength={4096} disabled={!session.hasRole('security')} onChange={(event) => setNote(event.target.value)} />
      </Field>
      {violation.note ? (
        <div className="triage-current-note">
          <span className="muted">{t.triage.currentNote}: </span>
          <span data-testid="violation-note">{violation.note}</span>
        </div>
      ) : null}
      <form className="triage-assign" onSubmit={assign}>
        <Field label={t.triage.assignee} hint={t.triage.assigneeHint}>
          <input data-testid="triage-assignee" list="triage-assignee-options" value={assignee} maxLength={64} autoComplete="off" disabled={!session.hasRole('security')} onChange={(event) => setAssignee(event.target.value)} />
        </Field>
        <datalist id="triage-assignee-options" data-testid="triage-assignee-options">
          {assignees.map((person) => (
            <option key={person.username} value={person.username}>
              {person.displayName}
            </option>
          ))}
        </datalist>
        <div className="button-row">
          <Button requires={TRIAGER} type="submit" busy={busy !== null && busy.startsWith(t.triage.assign)} disabled={busy !== null} data-testid="triage-assign">
            {t.triage.assign}
          </Button>
          {session.hasRole('security') && violation.assignee !== session.user.username ? (
            <Button variant="quiet" disabled={busy !== null} data-testid="triage-assign-me" onClick={() => { setAssignee(session.user.username); void patch(`${t.triage.assign} → ${session.user.username}`, { assignee: session.user.username }); }}>
              {t.triage.assignToMe}
            </Button>
          ) : null}
          {violation.assignee ? (
            <Button requires={TRIAGER} variant="quiet" disabled={busy !== null} data-testid="triage-unassign" onClick={() => void patch(t.triage.unassign, { assignee: null })}>
              {t.triage.unassign}
            </Button>
          ) : null}
        </div>
      </form>
    </div>
  );
}
