import { useEffect, useState, type FormEvent } from 'react';
import { ApiError } from '../../api/client';
import { useMessages } from '../../i18n';
import { useSessionState } from '../../session';
import { Field } from '../../ui/Field';
import { LanguageSwitch } from '../../ui/LanguageSwitch';
import { messages } from './messages';

type Problem = { kind: 'wrong' } | { kind: 'throttled'; until: number | null } | { kind: 'missing' } | { kind: 'other'; text: string };

export function SignInPage() {
  const t = useMessages(messages);
  const session = useSessionState();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [now, setNow] = useState(() => Date.now());

  const throttledUntil = problem?.kind === 'throttled' ? problem.until : null;
  useEffect(() => {
    if (throttledUntil === null) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [throttledUntil]);
  const secondsLeft = throttledUntil === null ? 0 : Math.max(0, Math.ceil((throttledUntil - now) / 1000));
  const waiting = problem?.kind === 'throttled' && throttledUntil !== null && secondsLeft > 0;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!username.trim() || !password) {
      setProblem({ kind: 'missing' });
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      await session.signIn(username.trim(), password);
    } catch (error) {
      setPassword('');
      if (error instanceof ApiError && error.status === 401) setProblem({ kind: 'wrong' });
      else if (error instanceof ApiError && error.status === 429) {
        setNow(Date.now());
        setProblem({ kind: 'throttled', until: error.retryAfterSeconds ? Date.now() + error.retryAfterSeconds * 1000 : null });
      } else setProblem({ kind: 'other', text: error instanceof Error ? error.message : String(error) });
    } finally {
      setBusy(false);
    }
  };

  let problemText: string | null = null;
  if (problem?.kind === 'wrong') problemText = t.wrong;
  else if (problem?.kind === 'missing') problemText = t.missing;
  else if (problem?.kind === 'throttled') problemText = problem.until === null ? t.throttledNoTime : t.throttled(secondsLeft);
  else if (problem?.kind === 'other') problemText = problem.text;

  return (
    <div className="signin">
      <div className="signin-lang">
        <LanguageSwitch />
      </div>
      <form className="signin-card" onSubmit={(event) => void submit(event)} noValidate data-testid="signin-form">
        <h1>{t.title}</h1>
        <p className="muted">{t.intro}</p>
        {session.expired && !problem ? (
          <div className="notice" role="status" data-testid="signin-expired">
            {t.sessionEnded}
          </div>
        ) : null}
        {problemText ? (
          <div className="error-banner" role="alert" data-testid="signin-error" data-problem={problem?.kind}>
            <span className="error-banner-text">{problemText}</span>
          </div>
        ) : null}
        <Field label={t.username}>
          <input data-testid="signin-username" name="username" autoComplete="username" autoFocus value={username} onChange={(event) => setUsername(event.target.value)} />
        </Field>
        <Field label={t.password}>
          <input data-testid="signin-password" name="password" type="password" autoComplete="current-password" value={password} onChange={(event) => setPassword(event.target.value)} />
        </Field>
        <button type="submit" className="button button-primary button-wide" data-testid="signin-submit" disabled={busy || waiting} aria-busy={busy || undefined}>
          {busy ? t.submitting : t.submit}
        </button>
        <p className="signin-hint muted">{t.firstAdmin}</p>
      </form>
    </div>
  );
}
