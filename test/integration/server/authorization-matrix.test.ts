import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestMethod, type INestApplication } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';
import { PUBLIC_ROUTE } from '../../../server/src/modules/admin-auth/public.decorator';
import { REQUIRED_ROLES } from '../../../server/src/modules/auth/roles.decorator';
import { READERS, ROLES, type Role } from '../../../server/src/modules/auth/roles';
import { DATABASE_KINDS } from '../../support/databases';
import { startTestCollector, TestCollector } from './collector-harness';
import { type Answer, call, type Credential, roleUser } from './role-users';

/**
 * The REST authorization matrix (issue 7): every route the running collector serves, and the
 * roles that may call it. The test discovers the routes from the application itself and fails
 * when one is missing here (or this table names one that does not exist), so a new endpoint
 * cannot skip the matrix; then it calls every route as a user holding each single role, with an
 * API token and with a console session, and without credentials.
 */
type Allowed = readonly Role[] | 'public';

interface Row {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** As the application declares it (":id" parameters). */
  route: string;
  allowed: Allowed;
  /** Query string for the call (the route needs one to get past validation). */
  query?: string;
  /** The path to call when the route's parameters are not plain ":name" ones. */
  path?: string;
}

const R = READERS;
const R_IT: readonly Role[] = [...READERS, 'it'];
const R_IT_APPROVER: readonly Role[] = [...READERS, 'it', 'approver'];
const EVERYONE: readonly Role[] = ROLES;

/** The contract's "Route → roles" table, route by route. */
const MATRIX: Row[] = [
  { method: 'GET', route: '/api/v1/health', allowed: 'public' },
  { method: 'GET', route: '/healthz', allowed: 'public' },
  // The console's files and its client-side paths (the page itself signs in through the API).
  { method: 'GET', route: '/{*path}', allowed: 'public', path: '/violations' },
  { method: 'POST', route: '/api/v1/auth/login', allowed: 'public' },
  { method: 'GET', route: '/api/v1/auth/session', allowed: EVERYONE },
  { method: 'POST', route: '/api/v1/auth/password', allowed: EVERYONE },
  { method: 'POST', route: '/api/v1/auth/logout', allowed: EVERYONE },

  { method: 'GET', route: '/api/v1/users', allowed: ['admin'] },
  { method: 'POST', route: '/api/v1/users', allowed: ['admin'] },
  { method: 'PATCH', route: '/api/v1/users/:id', allowed: ['admin'] },
  { method: 'POST', route: '/api/v1/users/:id/password', allowed: ['admin'] },

  { method: 'GET', route: '/api/v1/api-tokens', allowed: EVERYONE },
  { method: 'POST', route: '/api/v1/api-tokens', allowed: EVERYONE },
  { method: 'DELETE', route: '/api/v1/api-tokens/:id', allowed: EVERYONE },

  { method: 'GET', route: '/api/v1/agents', allowed: R_IT },
  { method: 'GET', route: '/api/v1/agents/:id', allowed: R_IT },
  { method: 'POST', route: '/api/v1/agents/:id/revoke', allowed: ['it'] },
  { method: 'POST', route: '/api/v1/agents/:id/uninstall-code', allowed: ['it'] },
  { method: 'PATCH', route: '/api/v1/agents/:id/required-zone', allowed: ['admin'] },
  { method: 'GET', route: '/api/v1/agent-releases', allowed: R_IT },
  { method: 'POST', route: '/api/v1/agent-releases', allowed: ['admin'], query: 'fileName=mamori-agent-999999.0.0-linux-x64.tar.gz' },
  { method: 'PUT', route: '/api/v1/agent-releases/target', allowed: ['admin', 'it'] },
  { method: 'GET', route: '/api/v1/certificate-authorities', allowed: R_IT },

  { method: 'GET', route: '/api/v1/enrollment-tokens', allowed: R_IT },
  { method: 'POST', route: '/api/v1/enrollment-tokens', allowed: ['it'] },
  { method: 'POST', route: '/api/v1/enrollment-tokens/:id/revoke', allowed: ['it'] },

  { method: 'GET', route: '/api/v1/policy', allowed: R_IT_APPROVER },
  { method: 'GET', route: '/api/v1/policy/usb', allowed: R_IT_APPROVER },
  { method: 'PUT', route: '/api/v1/policy/usb', allowed: ['admin'] },
  { method: 'GET', route: '/api/v1/policy/transfers', allowed: R_IT_APPROVER },
  { method: 'PUT', route: '/api/v1/policy/transfers', allowed: ['admin'] },
  { method: 'GET', route: '/api/v1/policy/versions', allowed: R_IT_APPROVER },
  { method: 'GET', route: '/api/v1/policy/versions/:version', allowed: R_IT_APPROVER },
  { method: 'GET', route: '/api/v1/policy/versions/:version/diff', allowed: R_IT_APPROVER, query: 'against=1' },

  { method: 'GET', route: '/api/v1/usb-register', allowed: R_IT_APPROVER },
  { method: 'POST', route: '/api/v1/usb-register', allowed: ['admin'] },
  { method: 'PATCH', route: '/api/v1/usb-register/:id', allowed: ['admin'] },
  { method: 'DELETE', route: '/api/v1/usb-register/:id', allowed: ['admin'] },

  { method: 'GET', route: '/api/v1/usb-exceptions', allowed: R_IT_APPROVER },
  { method: 'GET', route: '/api/v1/usb-exceptions/:id', allowed: R_IT_APPROVER },
  { method: 'POST', route: '/api/v1/usb-exceptions', allowed: ['admin', 'it', 'security'] },
  { method: 'POST', route: '/api/v1/usb-exceptions/:id/approve', allowed: ['approver'] },
  { method: 'POST', route: '/api/v1/usb-exceptions/:id/reject', allowed: ['approver'] },
  { method: 'POST', route: '/api/v1/usb-exceptions/:id/revoke', allowed: ['admin', 'approver'] },

  { method: 'GET', route: '/api/v1/whitelist/check', allowed: R_IT_APPROVER, query: 'host=git.example.com&port=443' },
  { method: 'GET', route: '/api/v1/whitelist/history', allowed: R_IT_APPROVER },
  { method: 'GET', route: '/api/v1/whitelist', allowed: R_IT_APPROVER },
  { method: 'GET', route: '/api/v1/whitelist/:id', allowed: R_IT_APPROVER },
  { method: 'POST', route: '/api/v1/whitelist', allowed: ['admin'] },
  { method: 'PATCH', route: '/api/v1/whitelist/:id', allowed: ['admin'] },
  { method: 'POST', route: '/api/v1/whitelist/:id/expire', allowed: ['admin'] },

  { method: 'GET', route: '/api/v1/whitelist/requests', allowed: R_IT_APPROVER },
  { method: 'GET', route: '/api/v1/whitelist/requests/:id', allowed: R_IT_APPROVER },
  { method: 'POST', route: '/api/v1/whitelist/requests', allowed: ['admin', 'it', 'security'] },
  { method: 'POST', route: '/api/v1/whitelist/requests/:id/withdraw', allowed: ['admin', 'it', 'security'] },
  { method: 'POST', route: '/api/v1/whitelist/requests/:id/approve', allowed: ['approver'] },
  { method: 'POST', route: '/api/v1/whitelist/requests/:id/reject', allowed: ['approver'] },

  { method: 'GET', route: '/api/v1/zones', allowed: R_IT_APPROVER },
  { method: 'GET', route: '/api/v1/zones/:name', allowed: R_IT_APPROVER },
  { method: 'POST', route: '/api/v1/zones', allowed: ['admin'] },
  { method: 'PATCH', route: '/api/v1/zones/:name', allowed: ['admin'] },
  { method: 'DELETE', route: '/api/v1/zones/:name', allowed: ['admin'] },

  { method: 'GET', route: '/api/v1/violations', allowed: R },
  { method: 'GET', route: '/api/v1/violations/stream', allowed: R },
  { method: 'GET', route: '/api/v1/violations/assignees', allowed: R },
  { method: 'GET', route: '/api/v1/violations/:id', allowed: R },
  { method: 'GET', route: '/api/v1/violations/:id/trail', allowed: R },
  { method: 'PATCH', route: '/api/v1/violations/:id', allowed: ['security'] },

  { method: 'GET', route: '/api/v1/ledger/devices', allowed: R_IT },
  { method: 'GET', route: '/api/v1/ledger/devices/:id', allowed: R_IT },
  { method: 'GET', route: '/api/v1/ledger/export', allowed: R_IT },
  { method: 'GET', route: '/api/v1/ledger/summary', allowed: R_IT },
  { method: 'POST', route: '/api/v1/ledger/devices', allowed: ['it'] },
  { method: 'PATCH', route: '/api/v1/ledger/devices/:id', allowed: ['it'] },
  { method: 'POST', route: '/api/v1/ledger/import', allowed: ['it'] },

  { method: 'GET', route: '/api/v1/events', allowed: R },
  { method: 'GET', route: '/api/v1/events/count', allowed: R },
  { method: 'GET', route: '/api/v1/transfers', allowed: R },
  { method: 'GET', route: '/api/v1/transfers/export.csv', allowed: R },
  { method: 'GET', route: '/api/v1/transfers/:id', allowed: R },

  { method: 'GET', route: '/api/v1/audit', allowed: R },
  { method: 'GET', route: '/api/v1/audit/verify', allowed: R },

  { method: 'GET', route: '/metrics', allowed: R },
];

const routeKey = (method: string, route: string) => `${method} ${route}`;

/** Ids no row's call can find: every call with one is a dummy that changes nothing. */
const MISSING_UUID = '00000000-0000-4000-8000-00000000a2a2';
const PARAMETER_VALUES: Record<string, string> = { id: MISSING_UUID, name: 'matrix-no-such-zone', version: '999999' };

function concretePath(row: Row): string {
  if (row.path !== undefined) return row.path;
  const path = row.route.replace(/:([A-Za-z]+)/g, (_match, name: string) => {
    const value = PARAMETER_VALUES[name];
    if (value === undefined) throw new Error(`the matrix has no value for the route parameter :${name} (${row.route}); add one to PARAMETER_VALUES`);
    return value;
  });
  return row.query === undefined ? path : `${path}?${row.query}`;
}

interface DiscoveredRoute {
  method: string;
  route: string;
  controller: string;
  handler: string;
  requiredRoles: Role[] | undefined;
  isPublic: boolean;
}

function joinPath(...parts: string[]): string {
  const joined = parts
    .flatMap((part) => part.split('/'))
    .filter((segment) => segment !== '')
    .join('/');
  return `/${joined}`;
}

/** Every HTTP handler of every controller in the application, with its role metadata (handler first, then controller). */
function discoverRoutes(app: INestApplication): DiscoveredRoute[] {
  const discovery = new DiscoveryService(app.get(ModulesContainer));
  const scanner = new MetadataScanner();
  const routes: DiscoveredRoute[] = [];
  for (const wrapper of discovery.getControllers()) {
    const controller = wrapper.metatype as (new (...args: never[]) => unknown) | null;
    if (controller === null || controller === undefined || typeof controller !== 'function') continue;
    const basePaths = ([] as string[]).concat((Reflect.getMetadata(PATH_METADATA, controller) as string | string[] | undefined) ?? '/');
    for (const name of scanner.getAllMethodNames(controller.prototype as object)) {
      const handler = (controller.prototype as Record<string, unknown>)[name] as object;
      const paths = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      // gRPC handlers (@GrpcMethod) carry a message pattern, no HTTP path or method.
      if (paths === undefined || method === undefined) continue;
      const requiredRoles = (Reflect.getMetadata(REQUIRED_ROLES, handler) ?? Reflect.getMetadata(REQUIRED_ROLES, controller)) as Role[] | undefined;
      const isPublic = (Reflect.getMetadata(PUBLIC_ROUTE, handler) ?? Reflect.getMetadata(PUBLIC_ROUTE, controller)) === true;
      for (const base of basePaths) {
        for (const path of ([] as string[]).concat(paths)) {
          routes.push({ method: RequestMethod[method], route: joinPath(base, path), controller: controller.name, handler: name, requiredRoles, isPublic });
        }
      }
    }
  }
  return routes;
}

/**
 * Routes Express serves that are no controller's: the OpenAPI description and its viewer
 * (SwaggerModule), public by design: they describe the API and hold no data.
 */
const API_DESCRIPTION_PREFIX = '/api/docs';

/** The routes Express itself holds under /api/ (whoever registered them), as "METHOD /path". */
function expressApiRoutes(app: INestApplication): string[] {
  const instance = app.getHttpAdapter().getInstance() as { router?: { stack: unknown[] }; _router?: { stack: unknown[] } };
  const stack = (instance.router ?? instance._router)?.stack ?? [];
  const routes: string[] = [];
  for (const layer of stack as Array<{ route?: { path: string | string[]; methods: Record<string, boolean> } }>) {
    if (layer.route === undefined) continue;
    for (const path of ([] as string[]).concat(layer.route.path)) {
      if (!path.startsWith('/api/') || path.startsWith(API_DESCRIPTION_PREFIX)) continue;
      for (const [method, on] of Object.entries(layer.route.methods)) {
        if (on && method !== '_all') routes.push(routeKey(method.toUpperCase(), path));
      }
    }
  }
  return routes;
}

interface RoleCaller {
  role: Role;
  credentials: { token: Credential; session: Credential };
}

/**
 * Logout ends the session it is called with, so it runs last for each caller; every other
 * allowed call uses ids that do not exist or bodies that fail validation, so nothing a row does
 * changes what a later row sees.
 */
const runOrder = (rows: Row[]) => [...rows.filter((row) => row.route !== '/api/v1/auth/logout'), ...rows.filter((row) => row.route === '/api/v1/auth/logout')];

function sameRoles(actual: unknown, expected: readonly Role[]): boolean {
  return Array.isArray(actual) && actual.length === expected.length && expected.every((role) => actual.includes(role));
}

/** What is wrong with one cell's answer, or null when it is right. */
function judge(row: Row, role: Role, answer: Answer): string | null {
  if (row.allowed === 'public') return null;
  if (row.allowed.includes(role)) {
    if (answer.status === 401 || answer.status === 403 || answer.status >= 500) return `allowed, but got ${answer.status} ${JSON.stringify(answer.body)}`;
    return null;
  }
  if (answer.status !== 403) return `forbidden, but got ${answer.status} ${JSON.stringify(answer.body)?.slice(0, 200)}`;
  const body = answer.body as { requiredRoles?: unknown; heldRoles?: unknown; message?: unknown } | undefined;
  if (!sameRoles(body?.requiredRoles, row.allowed)) return `403 names requiredRoles ${JSON.stringify(body?.requiredRoles)}, expected ${JSON.stringify(row.allowed)}`;
  if (!sameRoles(body?.heldRoles, [role])) return `403 names heldRoles ${JSON.stringify(body?.heldRoles)}, the caller holds only ${role}`;
  const message = typeof body?.message === 'string' ? body.message : '';
  const unnamed = row.allowed.filter((needed) => !message.includes(needed));
  if (unnamed.length > 0) return `403 message does not name ${unnamed.join(', ')}: ${message}`;
  return null;
}

function reportOf(failures: string[], cells: number): string {
  return `${failures.length} of ${cells} cells wrong:\n  ${failures.join('\n  ')}`;
}

/** Each role's caller, made once per collector. */
async function roleCallers(collector: TestCollector): Promise<RoleCaller[]> {
  const callers: RoleCaller[] = [];
  for (const role of ROLES) {
    const user = await roleUser(collector, `matrix-${role}`, [role]);
    callers.push({ role, credentials: { token: user.token, session: user.session } });
  }
  return callers;
}

function checkDiscovery(collector: TestCollector): void {
  const discovered = discoverRoutes(collector.collector.app);
  assert.ok(discovered.length >= MATRIX.length / 2, `discovered only ${discovered.length} routes; the discovery is broken`);
  const table = new Map(MATRIX.map((row) => [routeKey(row.method, row.route), row]));
  assert.equal(table.size, MATRIX.length, 'the matrix names a route twice');
  const problems: string[] = [];
  const served = new Set<string>();
  for (const route of discovered) {
    const key = routeKey(route.method, route.route);
    served.add(key);
    const where = `${key} (${route.controller}.${route.handler})`;
    if (route.requiredRoles === undefined && !route.isPublic) {
      problems.push(`${where} has neither @Roles nor @Public (the guard answers it with 500)`);
      continue;
    }
    if (route.requiredRoles !== undefined && route.isPublic) problems.push(`${where} has both @Roles and @Public`);
    if (route.requiredRoles !== undefined && route.requiredRoles.length === 0) problems.push(`${where} has @Roles() with no role: nobody could call it`);
    const row = table.get(key);
    if (row === undefined) {
      problems.push(`${where} is not in the authorization matrix; add a row with the roles the contract gives it`);
      continue;
    }
    if (row.allowed === 'public' ? !route.isPublic : !sameRoles(route.requiredRoles, row.allowed)) {
      problems.push(`${where} declares ${route.isPublic ? '@Public' : JSON.stringify(route.requiredRoles)}, the matrix says ${JSON.stringify(row.allowed)}`);
    }
  }
  for (const key of table.keys()) if (!served.has(key)) problems.push(`the matrix names ${key}, which the collector does not serve`);
  for (const key of expressApiRoutes(collector.collector.app)) {
    if (!served.has(key)) problems.push(`Express serves ${key}, which is no controller handler (registered outside Nest?); it escapes the role checks`);
  }
  assert.deepEqual(problems, []);
}

/**
 * On both databases: the guard looks users, sessions and API tokens up in the database, and the
 * whole matrix takes a few seconds per collector.
 */
for (const kind of DATABASE_KINDS) {
  test(`REST authorization matrix on ${kind}`, async (t) => {
    const started = await startTestCollector(t, kind);
    if (started === null) return;
    const collector = started;

    await t.test('every route the collector serves is in the matrix, and every handler declares @Roles or @Public as the matrix says', () => {
      checkDiscovery(collector);
    });

    await t.test('without credentials every route that is not public answers 401', async () => {
      const failures: string[] = [];
      const rows = MATRIX.filter((row) => row.allowed !== 'public');
      for (const row of rows) {
        const answer = await call(collector, row.method, concretePath(row), { kind: 'none' });
        if (answer.status !== 401) failures.push(`${row.method} ${row.route}: ${answer.status} ${JSON.stringify(answer.body)?.slice(0, 200)}`);
      }
      assert.equal(failures.length, 0, reportOf(failures, rows.length));
    });

    await t.test('public routes answer without credentials', async () => {
      const health = await call(collector, 'GET', '/api/v1/health', { kind: 'none' });
      assert.equal(health.status, 200);
      const description = await call(collector, 'GET', `${API_DESCRIPTION_PREFIX}-json`, { kind: 'none' });
      assert.equal(description.status, 200);
      assert.ok(description.body.paths['/api/v1/whitelist'] !== undefined, 'the OpenAPI description lists the routes');
      // The console is served without credentials (503 when it was not built); it signs in through the API.
      const page = await call(collector, 'GET', '/violations', { kind: 'none' });
      assert.ok(page.status === 200 || page.status === 503, `the console answered ${page.status}`);
      const login = await call(collector, 'POST', '/api/v1/auth/login', { kind: 'none' }, { username: 'matrix-nobody', password: 'not-the-password' });
      assert.equal(login.status, 401);
      assert.match(login.body.message, /username or password is wrong/);
    });

    const callers = await roleCallers(collector);
    for (const via of ['token', 'session'] as const) {
      await t.test(`each role by ${via === 'token' ? 'API token' : 'console session'}: forbidden routes answer 403 naming the roles, allowed ones let the call through`, async () => {
        const failures: string[] = [];
        let cells = 0;
        for (const caller of callers) {
          for (const row of runOrder(MATRIX)) {
            if (row.allowed === 'public') continue;
            cells += 1;
            const answer = await call(collector, row.method, concretePath(row), caller.credentials[via]);
            const wrong = judge(row, caller.role, answer);
            if (wrong !== null) failures.push(`${caller.role} ${row.method} ${row.route}: ${wrong}`);
          }
        }
        t.diagnostic(`${cells} route x role cells by ${via}`);
        assert.equal(failures.length, 0, reportOf(failures, cells));
      });
    }
  });
}
