/**
 * /users — for everyone: their own password and API tokens; for admins: the users and their roles.
 *
 * Test hooks (data-testid):
 *   account, account-password-current | -new | -confirm | -submit, account-password-changed
 *   api-tokens, api-token-create → api-token-form, api-token-form-name, api-token-form-role-<role>,
 *     api-token-form-days, api-token-form-submit, then api-token-created with api-token-secret
 *     (and api-token-secret-copy), api-token-done
 *   api-token-all (admin: every user's tokens), api-token-row (data-token-id), api-token-state,
 *     api-token-revoke → api-token-revoke-confirm
 *   users (admins only), user-add → user-form, user-form-username | -display-name | -role-<role> |
 *     -password | -confirm | -submit
 *   user-row (data-user-id, data-username), user-roles, user-state, user-edit, user-enable,
 *     user-disable → user-disable-confirm, user-reset-password → user-reset-dialog,
 *     user-reset-password-input, user-reset-confirm, user-reset-submit
 */
import { useMessages } from '../../i18n';
import { useSession } from '../../session';
import { Page } from '../../ui';
import { AccountSection } from './AccountSection';
import { messages } from './messages';
import { TokensSection } from './TokensSection';
import { UsersSection } from './UsersSection';
import './users.css';

export function UsersPage() {
  const t = useMessages(messages);
  const session = useSession();
  return (
    <Page title={t.title} subtitle={t.subtitle} testId="users-page">
      {session.hasRole('admin') ? <UsersSection /> : null}
      <TokensSection />
      <AccountSection />
    </Page>
  );
}
