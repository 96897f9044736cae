import { useState } from 'react';
import { api } from '../../api/client';
import { useMessages } from '../../i18n';
import { useSession } from '../../session';
import { Button, Field } from '../../ui';
import { FormProblems, useSubmit } from '../shared/components';
import { messages } from './messages';
import { passwordProblems } from './users-model';

/** The signed-in user's own password. */
export function AccountSection() {
  const t = useMessages(messages);
  const session = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState(false);
  const submit = useSubmit(['currentPassword', 'newPassword']);
  const change = async () => {
    setDone(false);
    const problems = passwordProblems(next, confirm);
    const errors: Record<string, string> = {};
    if (current === '') errors.currentPassword = t.problems.required;
    for (const problem of problems) errors[problem.field === 'password' ? 'newPassword' : 'confirm'] = t.problems[problem.problem];
    if (Object.keys(errors).length > 0) {
      submit.setFieldErrors(errors);
      return;
    }
    if (await submit.run(async () => void (await api.send('POST', '/auth/password', { currentPassword: current, newPassword: next })))) {
      setCurrent('');
      setNext('');
      setConfirm('');
      setDone(true);
    }
  };
  const e = submit.fieldErrors;
  return (
    <section className="panel" data-testid="account">
      <h2>{t.account.title}</h2>
      <p>{t.account.signedInAs(session.user.displayName ? `${session.user.displayName} (${session.user.username})` : session.user.username, session.user.roles.map((role) => t.roleNames[role] ?? role).join(', '))}</p>
      <form
        className="account-form"
        onSubmit={(event) => {
          event.preventDefault();
          void change();
        }}
      >
        <h3>{t.account.change}</h3>
        {done ? (
          <p className="notice" role="status" data-testid="account-password-changed">
            {t.account.changed}
          </p>
        ) : null}
        <FormProblems messages={submit.formMessages} error={submit.error} />
        <Field label={t.account.current} error={e.currentPassword}>
          <input type="password" autoComplete="current-password" value={current} onChange={(event) => setCurrent(event.target.value)} data-testid="account-password-current" />
        </Field>
        <Field label={t.account.next} hint={t.account.nextHint} error={e.newPassword}>
          <input type="password" autoComplete="new-password" value={next} onChange={(event) => setNext(event.target.value)} data-testid="account-password-new" />
        </Field>
        <Field label={t.account.confirm} error={e.confirm}>
          <input type="password" autoComplete="new-password" value={confirm} onChange={(event) => setConfirm(event.target.value)} data-testid="account-password-confirm" />
        </Field>
        <Button type="submit" variant="primary" busy={submit.busy} data-testid="account-password-submit">
          {t.account.submit}
        </Button>
      </form>
    </section>
  );
}
