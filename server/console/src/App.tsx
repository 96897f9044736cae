import { useEffect, type ReactNode } from 'react';
import { useMessages } from './i18n';
import { landingPath, visiblePages } from './lib/nav';
import { matchPath, safeReturnPath } from './lib/paths';
import { messages } from './messages';
import { AuditPage } from './pages/audit/AuditPage';
import { DevicesPage } from './pages/devices/DevicesPage';
import { SignInPage } from './pages/signin/SignInPage';
import { UsbPage } from './pages/usb/UsbPage';
import { UsersPage } from './pages/users/UsersPage';
import { ViolationDetailPage } from './pages/violations/ViolationDetailPage';
import { ViolationsPage } from './pages/violations/ViolationsPage';
import { WhitelistPage } from './pages/whitelist/WhitelistPage';
import { Link, navigate, useRoute } from './router';
import { useSession, useSessionState } from './session';
import { EmptyState } from './ui';
import { LanguageSwitch } from './ui/LanguageSwitch';

export function App() {
  const session = useSessionState();
  const route = useRoute();

  const signedIn = session.status === 'signed-in' && session.user !== null;
  const onSignIn = route.path === '/signin';

  useEffect(() => {
    if (session.status === 'signed-out' && !onSignIn) {
      const next = route.path === '/' || session.signedOutOnPurpose ? '' : `?next=${encodeURIComponent(route.path + route.search)}`;
      navigate(`/signin${next}`, { replace: true });
    } else if (signedIn && onSignIn) {
      const next = route.query.get('next');
      navigate(next ? safeReturnPath(next) : landingPath(session.user!.roles), { replace: true });
    } else if (signedIn && route.path === '/') {
      navigate(landingPath(session.user!.roles), { replace: true });
    }
  }, [session.status, session.user, session.signedOutOnPurpose, signedIn, onSignIn, route.path, route.search, route.query]);

  if (session.status === 'loading') return <Splash />;
  if (!signedIn) return <SignInPage />;
  if (onSignIn || route.path === '/') return <Splash />;
  return (
    <Shell>
      <Routes path={route.path} />
    </Shell>
  );
}

function Routes({ path }: { path: string }) {
  if (path === '/violations') return <ViolationsPage />;
  const violation = matchPath('/violations/:id', path);
  if (violation) return <ViolationDetailPage id={violation.id} />;
  if (path === '/whitelist') return <WhitelistPage />;
  if (path === '/usb') return <UsbPage />;
  if (path === '/devices') return <DevicesPage />;
  if (path === '/audit') return <AuditPage />;
  if (path === '/users') return <UsersPage />;
  return <NotFound path={path} />;
}

function NotFound({ path }: { path: string }) {
  const t = useMessages(messages);
  return (
    <EmptyState title={t.notFoundTitle} action={<Link to="/violations">{t.notFoundAction}</Link>}>
      <p>{t.notFoundText(path)}</p>
    </EmptyState>
  );
}

function Splash() {
  const t = useMessages(messages);
  return (
    <div className="splash" aria-busy="true">
      {t.loading}
    </div>
  );
}

function Shell({ children }: { children: ReactNode }) {
  const t = useMessages(messages);
  const session = useSession();
  const route = useRoute();
  const pages = visiblePages(session.user.roles);
  return (
    <div className="shell">
      <header className="topbar">
        <Link to="/violations" className="brand">
          {t.appName}
        </Link>
        <nav className="nav" aria-label="main">
          {pages.map((page) => {
            const current = route.path === page.path || route.path.startsWith(`${page.path}/`);
            return (
              <Link key={page.key} to={page.path} data-testid={`nav-${page.key}`} className={current ? 'nav-link nav-current' : 'nav-link'} aria-current={current ? 'page' : undefined}>
                {t.nav[page.key]}
              </Link>
            );
          })}
        </nav>
        <div className="topbar-end">
          <span className="whoami" data-testid="whoami" title={session.user.roles.map((role) => t.roles[role]).join(', ')}>
            {t.signedInAs(session.user.displayName || session.user.username)}
          </span>
          <LanguageSwitch />
          <button type="button" className="button button-quiet" data-testid="signout" onClick={() => void session.signOut()}>
            {t.signOut}
          </button>
        </div>
      </header>
      <main className="main">{children}</main>
    </div>
  );
}
