import { useMessages } from '../../i18n';
import { messages } from './messages';
import { ALL_ROLES, toggleRole } from './users-model';

/** One checkbox per role, each with what the role is for; `allowed` limits which can be ticked. */
export function RoleChecks({ value, onChange, allowed, testIdPrefix }: { value: string[]; onChange: (roles: string[]) => void; allowed?: readonly string[]; testIdPrefix: string }) {
  const t = useMessages(messages);
  const roles = allowed ? ALL_ROLES.filter((role) => allowed.includes(role)) : ALL_ROLES;
  return (
    <div className="role-checks">
      {roles.map((role) => (
        <label key={role}>
          <input type="checkbox" checked={value.includes(role)} onChange={() => onChange(toggleRole(value, role))} data-testid={`${testIdPrefix}-${role}`} />
          <span>
            <strong>{t.roleNames[role]}</strong>
            <span className="cell-sub">{t.roleHints[role]}</span>
          </span>
        </label>
      ))}
    </div>
  );
}
