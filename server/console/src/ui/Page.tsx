import type { ReactNode } from 'react';

/** A screen: its title, the actions beside it, then the content. */
export function Page({ title, actions, subtitle, children, testId }: { title: ReactNode; actions?: ReactNode; subtitle?: ReactNode; children?: ReactNode; testId?: string }) {
  return (
    <section className="page" data-testid={testId}>
      <header className="page-header">
        <div>
          <h1>{title}</h1>
          {subtitle ? <p className="page-subtitle">{subtitle}</p> : null}
        </div>
        {actions ? <div className="page-actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}
