import { ApiError } from '../api/client';
import { useMessages } from '../i18n';
import { messages } from '../messages';

/** Says what went wrong. A 403 names the role that is missing and the roles held. Renders nothing without an error. */
export function ErrorBanner({ error, onRetry, testId }: { error: unknown; onRetry?: () => void; testId?: string }) {
  const t = useMessages(messages);
  if (error === undefined || error === null) return null;
  let text: string;
  if (error instanceof ApiError && error.status === 403 && error.requiredRoles?.length) {
    const held = error.heldRoles?.length ? error.heldRoles.join(', ') : t.noRoles;
    text = t.forbidden(error.requiredRoles.join(t.or), held);
  } else if (error instanceof ApiError && error.status === 0) {
    text = `${t.unreachable} (${error.message})`;
  } else if (error instanceof Error) {
    text = error.message;
  } else {
    text = String(error);
  }
  return (
    <div className="error-banner" role="alert" data-testid={testId ?? 'error-banner'}>
      <span className="error-banner-text">
        <strong>{t.errorPrefix}:</strong> {text}
      </span>
      {onRetry ? (
        <button type="button" className="button button-secondary" onClick={onRetry}>
          {t.retry}
        </button>
      ) : null}
    </div>
  );
}
