import type { ReactNode } from 'react';

/** What is (not) here and what to do next: `title`, then `children` (the next step), then an optional action. */
export function EmptyState({ title, children, action, testId }: { title: ReactNode; children?: ReactNode; action?: ReactNode; testId?: string }) {
  return (
    <div className="empty-state" data-testid={testId ?? 'empty-state'}>
      <h2>{title}</h2>
      {children ? <div className="empty-state-next">{children}</div> : null}
      {action ? <div className="empty-state-action">{action}</div> : null}
    </div>
  );
}
