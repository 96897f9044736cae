import type { ButtonHTMLAttributes } from 'react';
import { useMessages } from '../i18n';
import type { Role } from '../lib/roles';
import { messages } from '../messages';
import { useSession } from '../session';

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: 'primary' | 'secondary' | 'danger' | 'quiet';
  /** Roles any one of which may use this button; without one it is disabled with a tooltip naming them. */
  requires?: readonly Role[];
  busy?: boolean;
}

export function Button({ variant = 'secondary', requires, busy, disabled, title, className, type, children, ...rest }: ButtonProps) {
  const t = useMessages(messages);
  const session = useSession();
  const allowed = !requires || session.hasAnyRole(requires);
  const tooltip = allowed ? title : t.needsRole(requires!.join(t.or));
  return (
    <button
      type={type ?? 'button'}
      className={`button button-${variant}${className ? ` ${className}` : ''}`}
      disabled={disabled || busy || !allowed}
      title={tooltip}
      aria-busy={busy || undefined}
      data-needs-role={allowed ? undefined : requires!.join(' ')}
      {...rest}
    >
      {children}
    </button>
  );
}
