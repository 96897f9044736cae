import { useEffect, useState } from 'react';
import { api, useApi } from '../../api/client';
import { useLanguage, useMessages } from '../../i18n';
import { useSession } from '../../session';
import { Button, Dialog, EmptyState, ErrorBanner, Field, formatTime, StatusBadge, Table, type Column } from '../../ui';
import { FormProblems, ReasonDialog, useSubmit } from '../shared/components';
import { messages as sharedMessages } from '../shared/messages';
import { messages } from './messages';
import { RoleChecks } from './RoleChecks';
import { enabledAdmins, itemsOf, newUserBody, orderedRoles, passwordProblems, userPatch, type UserView } from './users-model';

/** Users and their roles, for administrators: add, edit roles and name, disable / enable, reset password. */
export function UsersSection() {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  const session = useSession();
  const list = useApi<unknown>('/users');
  const users = itemsOf<UserView>(list.data);
  const [editing, setEditing] = useState<UserView | 'new' | null>(null);
  const [disabling, setDisabling] = useState<UserView | null>(null);
  const [resetting, setResetting] = useState<UserView | null>(null);
  const [toggleError, setToggleError] = useState<unknown>(undefined);
  const admins = enabledAdmins(users);
  const isLastAdmin = (user: UserView) => !user.disabled && user.roles.includes('admin') && admins <= 1;

  const enable = async (user: UserView) => {
    setToggleError(undefined);
    try {
      await api.send('PATCH', `/users/${user.id}`, { disabled: false });
      list.reload();
    } catch (error) {
      setToggleError(error);
    }
  };

  const columns: Column<UserView>[] = [
    {
      key: 'username',
      header: t.users.col.username,
      render: (user) => (
        <>
          <strong>{user.username}</strong>
          {user.id === session.user.id ? <span className="cell-sub">{t.users.you}</span> : null}
        </>
      ),
    },
    { key: 'name', header: t.users.col.name, render: (user) => user.displayName },
    {
      key: 'roles',
      header: t.users.col.roles,
      render: (user) => (
        <span className="role-list" data-testid="user-roles">
          {orderedRoles(user.roles).map((role) => (
            <StatusBadge key={role} status="assigned" label={t.roleNames[role] ?? role} />
          ))}
        </span>
      ),
    },
    { key: 'state', header: t.users.col.state, render: (user) => <StatusBadge status={user.disabled ? 'revoked' : 'active'} label={user.disabled ? t.users.disabled : t.users.enabled} testId="user-state" /> },
    { key: 'lastSignIn', header: t.users.col.lastSignIn, className: 'nowrap', render: (user) => (user.lastSignInAt ? formatTime(user.lastSignInAt, lang) : <span className="muted">{t.users.never}</span>) },
    {
      key: 'actions',
      header: '',
      className: 'cell-actions',
      render: (user) => (
        <>
          <Button requires={['admin']} onClick={() => setEditing(user)} data-testid="user-edit">
            {t.users.edit}
          </Button>
          <Button requires={['admin']} onClick={() => setResetting(user)} data-testid="user-reset-password">
            {t.users.resetPassword}
          </Button>
          {user.disabled ? (
            <Button requires={['admin']} onClick={() => void enable(user)} data-testid="user-enable">
              {t.users.enable}
            </Button>
          ) : (
            <Button variant="danger" requires={['admin']} disabled={isLastAdmin(user)} title={isLastAdmin(user) ? t.users.lastAdmin : undefined} onClick={() => setDisabling(user)} data-testid="user-disable">
              {t.users.disable}
            </Button>
          )}
        </>
      ),
    },
  ];

  return (
    <section className="panel" data-testid="users">
      <h2>{t.users.title}</h2>
      <div className="button-row">
        <Button variant="primary" requires={['admin']} onClick={() => setEditing('new')} data-testid="user-add">
          {t.users.add}
        </Button>
      </div>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <ErrorBanner error={toggleError} />
      {list.data !== undefined ? (
        <Table
          testId="user-list"
          columns={columns}
          rows={users}
          rowKey={(user) => user.id}
          rowProps={(user) => ({ 'data-testid': 'user-row', 'data-user-id': user.id, 'data-username': user.username })}
          empty={
            <EmptyState title={t.users.emptyTitle} testId="users-empty">
              <p>{t.users.emptyNext}</p>
            </EmptyState>
          }
        />
      ) : null}
      <UserDialog user={editing} lastAdmin={editing !== null && editing !== 'new' && isLastAdmin(editing)} onClose={() => setEditing(null)} onDone={list.reload} />
      <ReasonDialog
        open={disabling !== null}
        title={disabling ? t.users.disableTitle(disabling.username) : ''}
        intro={<p>{t.users.disableIntro}</p>}
        confirmLabel={t.users.disable}
        requires={['admin']}
        withReason={false}
        testIdPrefix="user-disable"
        onClose={() => setDisabling(null)}
        onConfirm={async () => {
          await api.send('PATCH', `/users/${disabling!.id}`, { disabled: true });
          list.reload();
        }}
      />
      <ResetPasswordDialog user={resetting} onClose={() => setResetting(null)} />
    </section>
  );
}

function UserDialog({ user, lastAdmin, onClose, onDone }: { user: UserView | 'new' | null; lastAdmin: boolean; onClose: () => void; onDone: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [roles, setRoles] = useState<string[]>([]);
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [nothingChanged, setNothingChanged] = useState(false);
  const submit = useSubmit(['username', 'displayName', 'roles', 'password']);
  useEffect(() => {
    if (user === null) return;
    submit.reset();
    setNothingChanged(false);
    setUsername(user === 'new' ? '' : user.username);
    setDisplayName(user === 'new' ? '' : user.displayName);
    setRoles(user === 'new' ? [] : orderedRoles(user.roles));
    setPassword('');
    setConfirm('');
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [user]);
  const save = async () => {
    setNothingChanged(false);
    if (user === null) return;
    if (user === 'new') {
      const checked = newUserBody({ username, displayName, roles, password, confirm });
      if (!checked.ok) {
        submit.setFieldErrors(Object.fromEntries(checked.problems.map((problem) => [problem.field, t.problems[problem.problem]])));
        return;
      }
      if (await submit.run(async () => void (await api.send('POST', '/users', checked.body)))) {
        onClose();
        onDone();
      }
      return;
    }
    if (roles.length === 0) {
      submit.setFieldErrors({ roles: t.problems.rolesRequired });
      return;
    }
    const patch = userPatch(user, { displayName, roles });
    if (patch === null) {
      setNothingChanged(true);
      return;
    }
    if (await submit.run(async () => void (await api.send('PATCH', `/users/${user.id}`, patch)))) {
      onClose();
      onDone();
    }
  };
  const e = submit.fieldErrors;
  return (
    <Dialog
      open={user !== null}
      title={user === 'new' ? t.users.addTitle : user ? t.users.editTitle(user.username) : ''}
      onClose={onClose}
      testId="user-form"
      actions={
        <>
          <Button onClick={onClose}>{s.cancel}</Button>
          <Button variant="primary" requires={['admin']} busy={submit.busy} onClick={() => void save()} data-testid="user-form-submit">
            {user === 'new' ? t.users.submitAdd : t.users.save}
          </Button>
        </>
      }
    >
      <div className="dialog-wide">
        <FormProblems messages={submit.formMessages} error={submit.error} />
        {nothingChanged ? <p className="notice">{t.users.nothingChanged}</p> : null}
        {lastAdmin ? <p className="notice">{t.users.lastAdmin}</p> : null}
        <div className="form-grid">
          <Field label={t.users.username} hint={user === 'new' ? t.users.usernameHint : undefined} error={e.username}>
            <input type="text" value={username} disabled={user !== 'new'} autoComplete="off" onChange={(event) => setUsername(event.target.value)} data-testid="user-form-username" />
          </Field>
          <Field label={t.users.displayName} error={e.displayName}>
            <input type="text" value={displayName} onChange={(event) => setDisplayName(event.target.value)} data-testid="user-form-display-name" />
          </Field>
        </div>
        <fieldset className="field">
          <legend>{t.users.roles}</legend>
          <RoleChecks value={roles} onChange={setRoles} testIdPrefix="user-form-role" />
          {e.roles ? <p className="field-error">{e.roles}</p> : null}
        </fieldset>
        {user === 'new' ? (
          <div className="form-grid">
            <Field label={t.users.password} hint={t.users.passwordHint} error={e.password}>
              <input type="password" autoComplete="new-password" value={password} onChange={(event) => setPassword(event.target.value)} data-testid="user-form-password" />
            </Field>
            <Field label={t.users.confirm} error={e.confirm}>
              <input type="password" autoComplete="new-password" value={confirm} onChange={(event) => setConfirm(event.target.value)} data-testid="user-form-confirm" />
            </Field>
          </div>
        ) : null}
      </div>
    </Dialog>
  );
}

function ResetPasswordDialog({ user, onClose }: { user: UserView | null; onClose: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const submit = useSubmit(['password']);
  useEffect(() => {
    setPassword('');
    setConfirm('');
    submit.reset();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [user]);
  const save = async () => {
    if (user === null) return;
    const problems = passwordProblems(password, confirm);
    if (problems.length > 0) {
      submit.setFieldErrors(Object.fromEntries(problems.map((problem) => [problem.field, t.problems[problem.problem]])));
      return;
    }
    if (await submit.run(async () => void (await api.send('POST', `/users/${user.id}/password`, { password })))) onClose();
  };
  return (
    <Dialog
      open={user !== null}
      title={user ? t.users.resetTitle(user.username) : ''}
      onClose={onClose}
      testId="user-reset-dialog"
      actions={
        <>
          <Button onClick={onClose}>{s.cancel}</Button>
          <Button variant="primary" requires={['admin']} busy={submit.busy} onClick={() => void save()} data-testid="user-reset-submit">
            {t.users.resetSubmit}
          </Button>
        </>
      }
    >
      <div className="dialog-wide">
        <p>{t.users.resetIntro}</p>
        <FormProblems messages={submit.formMessages} error={submit.error} />
        <Field label={t.users.password} hint={t.users.passwordHint} error={submit.fieldErrors.password}>
          <input type="password" autoComplete="new-password" value={password} onChange={(event) => setPassword(event.target.value)} data-testid="user-reset-password-input" />
        </Field>
        <Field label={t.users.confirm} error={submit.fieldErrors.confirm}>
          <input type="password" autoComplete="new-password" value={confirm} onChange={(event) => setConfirm(event.target.value)} data-testid="user-reset-confirm" />
        </Field>
      </div>
    </Dialog>
  );
}
