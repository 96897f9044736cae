import { useState, type ReactNode } from 'react';
import { ApiError } from '../../api/client';
import { useMessages } from '../../i18n';
import type { Role } from '../../lib/roles';
import { navigate, useRoute } from '../../router';
import { Button, Dialog, ErrorBanner, Field } from '../../ui';
import { localInputDaysFrom, remainingUntil, splitFieldErrors } from './forms';
import { messages } from './messages';
import './shared.css';

/** Tabs kept in the address (?tab=…), so a reload or a shared link opens the same one. */
export function useTab<T extends string>(tabs: readonly T[], fallback: T): [T, (tab: T) => void] {
  const route = useRoute();
  const asked = route.query.get('tab');
  const current = (tabs as readonly string[]).includes(asked ?? '') ? (asked as T) : fallback;
  const select = (tab: T) => {
    const query = new URLSearchParams(route.search);
    query.set('tab', tab);
    navigate(`${route.path}?${query.toString()}`, { replace: true });
  };
  return [current, select];
}

export function Tabs<T extends string>({ tabs, current, onSelect, testIdPrefix }: { tabs: Array<{ key: T; label: ReactNode; count?: number }>; current: T; onSelect: (tab: T) => void; testIdPrefix: string }) {
  return (
    <div className="tabs" role="tablist">
      {tabs.map((tab) => (
        <button
          key={tab.key}
          type="button"
          role="tab"
          aria-selected={tab.key === current}
          className={tab.key === current ? 'tab tab-current' : 'tab'}
          data-testid={`${testIdPrefix}-${tab.key}`}
          onClick={() => onSelect(tab.key)}
        >
          {tab.label}
          {tab.count ? <span className="tab-count">{tab.count}</span> : null}
        </button>
      ))}
    </div>
  );
}

/** A secret shown once (a token, a command) with a copy button; select-all on click as the fallback. */
export function OneTimeSecret({ items, testId }: { items: Array<{ label: ReactNode; value: string; testId?: string }>; testId?: string }) {
  const t = useMessages(messages);
  return (
    <div className="secret" data-testid={testId}>
      <p>{t.shownOnce}</p>
      {items.map((item, index) => (
        <div key={index}>
          <div className="secret-label">{item.label}</div>
          <div className="secret-row">
            <code className="secret-value" data-testid={item.testId}>
              {item.value}
            </code>
            <CopyButton value={item.value} testId={item.testId ? `${item.testId}-copy` : undefined} />
          </div>
        </div>
      ))}
    </div>
  );
}

export function CopyButton({ value, testId }: { value: string; testId?: string }) {
  const t = useMessages(messages);
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = async () => {
    try {
      // The clipboard API needs a secure context (HTTPS or localhost); elsewhere the text stays selectable.
      await navigator.clipboard.writeText(value);
      setState('copied');
    } catch {
      setState('failed');
    }
  };
  return (
    <Button type="button" onClick={() => void copy()} data-testid={testId} title={state === 'failed' ? t.copyFailed : undefined}>
      {state === 'copied' ? t.copied : state === 'failed' ? t.copyFailed : t.copy}
    </Button>
  );
}

/**
 * Submitting a form: `run` sends; a 400 from the collector is sorted onto `fields` (its messages name
 * them) and the rest shown above the form; other failures go to the error banner.
 */
export function useSubmit(fields: readonly string[]) {
  const [busy, setBusy] = useState(false);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(undefined);
  const [formMessages, setFormMessages] = useState<string[]>([]);
  const reset = () => {
    setFieldErrors({});
    setError(undefined);
    setFormMessages([]);
  };
  const run = async (work: () => Promise<void>): Promise<boolean> => {
    reset();
    setBusy(true);
    try {
      await work();
      return true;
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 400) {
        const split = splitFieldErrors(failure.message, fields);
        setFieldErrors(split.byField);
        setFormMessages(split.other);
      } else {
        setError(failure);
      }
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, fieldErrors, setFieldErrors, error, formMessages, run, reset };
}

export function FormProblems({ messages: list, error }: { messages: string[]; error: unknown }) {
  const t = useMessages(messages);
  return (
    <>
      <ErrorBanner error={error} />
      {list.length > 0 ? (
        <div className="form-problems" role="alert" data-testid="form-problems">
          {t.formProblems}
          <ul>
            {list.map((message) => (
              <li key={message}>{message}</li>
            ))}
          </ul>
        </div>
      ) : null}
    </>
  );
}

/** A datetime-local input with "+7 days"-style presets and "no end". */
export function ExpiryInput({ id, value, onChange, presets = [7, 30, 90], allowNone = true, testId, max }: { id?: string; value: string; onChange: (value: string) => void; presets?: number[]; allowNone?: boolean; testId?: string; max?: string }) {
  const t = useMessages(messages);
  return (
    <div>
      <input id={id} type="datetime-local" value={value} max={max} onChange={(event) => onChange(event.target.value)} data-testid={testId} />
      <div className="presets">
        {presets.map((days) => (
          <button key={days} type="button" className="button button-quiet" onClick={() => onChange(localInputDaysFrom(new Date(), days))}>
            {t.inDays(days)}
          </button>
        ))}
        {allowNone ? (
          <button type="button" className="button button-quiet" onClick={() => onChange('')}>
            {t.noEnd}
          </button>
        ) : null}
      </div>
    </div>
  );
}

/** "12 days left" / "ended" / "no end" for an end time. */
export function Remaining({ end }: { end: string | null | undefined }) {
  const t = useMessages(messages);
  const left = remainingUntil(end, new Date());
  const text = left.kind === 'none' ? t.remainingNone : left.kind === 'ended' ? t.remainingEnded : left.kind === 'days' ? t.remainingDays(left.days) : t.remainingHours(left.hours);
  return <span className="cell-sub">{text}</span>;
}

/**
 * A dialog asking for a reason before an action that needs one (reject, revoke, expire, retire):
 * the confirm button stays disabled until a reason is given. `onConfirm` throws to keep it open.
 */
export function ReasonDialog({
  open,
  title,
  intro,
  confirmLabel,
  requires,
  onClose,
  onConfirm,
  testIdPrefix,
  reasonRequired = true,
  withReason = true,
  children,
}: {
  open: boolean;
  title: ReactNode;
  intro?: ReactNode;
  confirmLabel: ReactNode;
  requires?: readonly Role[];
  onClose: () => void;
  onConfirm: (reason: string) => Promise<void>;
  testIdPrefix: string;
  reasonRequired?: boolean;
  /** False: a plain confirmation (the action takes no reason). */
  withReason?: boolean;
  children?: ReactNode;
}) {
  const t = useMessages(messages);
  const [reason, setReason] = useState('');
  const submit = useSubmit(['reason']);
  const close = () => {
    setReason('');
    submit.reset();
    onClose();
  };
  const confirm = async () => {
    const ok = await submit.run(() => onConfirm(reason.trim()));
    if (ok) close();
  };
  return (
    <Dialog
      open={open}
      title={title}
      onClose={close}
      testId={`${testIdPrefix}-dialog`}
      actions={
        <>
          <Button onClick={close}>{t.cancel}</Button>
          <Button variant="danger" requires={requires} busy={submit.busy} disabled={withReason && reasonRequired && reason.trim() === ''} onClick={() => void confirm()} data-testid={`${testIdPrefix}-confirm`}>
            {confirmLabel}
          </Button>
        </>
      }
    >
      <div className="dialog-wide">
        {intro}
        {children}
        <FormProblems messages={submit.formMessages} error={submit.error} />
        {withReason ? (
          <Field label={t.reason} hint={reasonRequired ? t.reasonRequired : undefined} error={submit.fieldErrors.reason}>
            <textarea rows={3} value={reason} onChange={(event) => setReason(event.target.value)} data-testid={`${testIdPrefix}-reason`} />
          </Field>
        ) : null}
      </div>
    </Dialog>
  );
}
