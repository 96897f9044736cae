import { parseArgs } from 'node:util';
import { parseDurationSeconds } from '../common/duration';
import { MAX_TOKEN_LIFETIME_SECONDS, MAX_TOKEN_USES } from '../modules/enrollment/enrollment-token.limits';
import { AuditAnchor, parseAuditAnchor } from '../modules/audit/audit-chain';
import { isRole, ROLES, type Role } from '../modules/auth/roles';
import { UsageError } from './cli-usage';

export type Command =
  | { name: 'help' }
  | { name: 'run' }
  | { name: 'migrate' }
  | { name: 'tokens create'; label?: string; maxUses?: number; expiresInSeconds?: number; zone?: string; json: boolean }
  | { name: 'tokens list'; json: boolean }
  | { name: 'tokens revoke'; id: string }
  | { name: 'agents list'; json: boolean }
  | { name: 'agents revoke'; id: string }
  | { name: 'release add'; archive: string; json: boolean }
  | { name: 'release list'; json: boolean }
  | { name: 'ca status'; json: boolean }
  | { name: 'ca rotate'; json: boolean }
  | { name: 'ca switch'; force: boolean; json: boolean }
  | { name: 'ca retire'; force: boolean; json: boolean }
  | { name: 'admin-token reset' }
  | { name: 'audit verify'; json: boolean; anchor?: AuditAnchor }
  | { name: 'user add'; username: string; roles: Role[]; displayName?: string; passwordStdin: boolean }
  | { name: 'user list'; json: boolean }
  | { name: 'user roles'; username: string; roles: Role[] }
  | { name: 'user password'; username: string; passwordStdin: boolean }
  | { name: 'user disable'; username: string }
  | { name: 'user enable'; username: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses mamori-server's arguments (without node and the script). Throws UsageError naming the bad word. */
export function parseCommandLine(argv: string[]): Command {
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') return { name: 'help' };
  const [first, second, ...rest] = argv;
  if (first === undefined) return { name: 'run' };
  if (first.startsWith('-')) throw new UsageError(`unknown option "${first}"`);
  switch (first) {
    case 'run':
    case 'migrate':
      noMore(argv.slice(1), first);
      return { name: first };
    case 'tokens':
      return tokens(second, rest);
    case 'agents':
      return agents(second, rest);
    case 'release':
      return release(second, rest);
    case 'ca':
      return ca(second, rest);
    case 'admin-token':
      return adminToken(second, rest);
    case 'audit':
      return audit(second, rest);
    case 'user':
      return user(second, rest);
    default:
      throw new UsageError(`unknown command "${first}"`);
  }
}

function tokens(sub: string | undefined, args: string[]): Command {
  switch (sub) {
    case 'create': {
      const { values } = parse(args, {
        label: { type: 'string' },
        uses: { type: 'string' },
        'expires-in': { type: 'string' },
        zone: { type: 'string' },
        json: { type: 'boolean' },
      }, 'tokens create');
      let maxUses: number | undefined;
      if (values.uses !== undefined) {
        const uses = String(values.uses);
        if (!/^\d{1,16}$/.test(uses) || Number(uses) < 1 || Number(uses) > MAX_TOKEN_USES) {
          throw new UsageError(`--uses must be a whole number from 1 to ${MAX_TOKEN_USES}, got "${uses}"`);
        }
        maxUses = Number(uses);
      }
      let expiresInSeconds: number | undefined;
      if (values['expires-in'] !== undefined) {
        const parsed = parseDurationSeconds(String(values['expires-in']));
        if (parsed === null) throw new UsageError(`--expires-in must look like 30s, 90m, 24h or 7d, got "${values['expires-in']}"`);
        if (parsed > MAX_TOKEN_LIFETIME_SECONDS) {
          throw new UsageError(`--expires-in must be at most 365d (${MAX_TOKEN_LIFETIME_SECONDS} seconds), got "${values['expires-in']}"`);
        }
        expiresInSeconds = parsed;
      }
      return { name: 'tokens create', label: values.label as string | undefined, maxUses, expiresInSeconds, zone: values.zone as string | undefined, json: values.json === true };
    }
    case 'list': {
      const { values } = parse(args, { json: { type: 'boolean' } }, 'tokens list');
      return { name: 'tokens list', json: values.json === true };
    }
    case 'revoke':
      return { name: 'tokens revoke', id: singleId(args, 'tokens revoke', 'token') };
    case undefined:
      throw new UsageError('"tokens" needs a subcommand: create, list or revoke');
    default:
      throw new UsageError(`unknown tokens subcommand "${sub}" (use create, list or revoke)`);
  }
}

function agents(sub: string | undefined, args: string[]): Command {
  switch (sub) {
    case 'list': {
      const { values } = parse(args, { json: { type: 'boolean' } }, 'agents list');
      return { name: 'agents list', json: values.json === true };
    }
    case 'revoke':
      return { name: 'agents revoke', id: singleId(args, 'agents revoke', 'agent') };
    case undefined:
      throw new UsageError('"agents" needs a subcommand: list or revoke');
    default:
      throw new UsageError(`unknown agents subcommand "${sub}" (use list or revoke)`);
  }
}

function release(sub: string | undefined, args: string[]): Command {
  switch (sub) {
    case 'add': {
      let parsed: { values: Record<string, unknown>; positionals: string[] };
      try {
        parsed = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true, allowPositionals: true }) as typeof parsed;
      } catch (error) {
        throw new UsageError(`release add: ${rephrase((error as Error).message)}`);
      }
      if (parsed.positionals.length !== 1) throw new UsageError('"release add" needs exactly one ARCHIVE (mamori-agent-<version>-<platform>-<arch>.tar.gz)');
      return { name: 'release add', archive: parsed.positionals[0]!, json: parsed.values.json === true };
    }
    case 'list': {
      const { values } = parse(args, { json: { type: 'boolean' } }, 'release list');
      return { name: 'release list', json: values.json === true };
    }
    case undefined:
      throw new UsageError('"release" needs a subcommand: add or list');
    default:
      throw new UsageError(`unknown release subcommand "${sub}" (use add or list)`);
  }
}

function ca(sub: string | undefined, args: string[]): Command {
  switch (sub) {
    case 'status':
    case 'rotate': {
      const { values } = parse(args, { json: { type: 'boolean' } }, `ca ${sub}`);
      return { name: sub === 'status' ? 'ca status' : 'ca rotate', json: values.json === true };
    }
    case 'switch':
    case 'retire': {
      const { values } = parse(args, { force: { type: 'boolean' }, json: { type: 'boolean' } }, `ca ${sub}`);
      return { name: sub === 'switch' ? 'ca switch' : 'ca retire', force: values.force === true, json: values.json === true };
    }
    case undefined:
      throw new UsageError('"ca" needs a subcommand: status, rotate, switch or retire');
    default:
      throw new UsageError(`unknown ca subcommand "${sub}" (use status, rotate, switch or retire)`);
  }
}

function adminToken(sub: string | undefined, args: string[]): Command {
  switch (sub) {
    case 'reset':
      noMore(args, 'admin-token reset');
      return { name: 'admin-token reset' };
    case undefined:
      throw new UsageError('"admin-token" needs a subcommand: reset');
    default:
      throw new UsageError(`unknown admin-token subcommand "${sub}" (use reset)`);
  }
}

function audit(sub: string | undefined, args: string[]): Command {
  switch (sub) {
    case 'verify': {
      const { values } = parse(args, { json: { type: 'boolean' }, anchor: { type: 'string' } }, 'audit verify');
      if (values.anchor === undefined) return { name: 'audit verify', json: values.json === true };
      const anchor = parseAuditAnchor(String(values.anchor));
      if (anchor === null) throw new UsageError(`--anchor must be <sequence>:<hash> as "audit verify" printed them, got "${String(values.anchor).slice(0, 80)}"`);
      return { name: 'audit verify', json: values.json === true, anchor };
    }
    case undefined:
      throw new UsageError('"audit" needs a subcommand: verify');
    default:
      throw new UsageError(`unknown audit subcommand "${sub}" (use verify)`);
  }
}

function user(sub: string | undefined, args: string[]): Command {
  const command = `user ${sub ?? ''}`;
  switch (sub) {
    case 'add': {
      const { values, username } = parseWithUsername(args, { role: { type: 'string', multiple: true }, 'display-name': { type: 'string' }, 'password-stdin': { type: 'boolean' } }, command);
      return { name: 'user add', username, roles: roles(values.role, command), displayName: values['display-name'] as string | undefined, passwordStdin: values['password-stdin'] === true };
    }
    case 'list': {
      const { values } = parse(args, { json: { type: 'boolean' } }, 'user list');
      return { name: 'user list', json: values.json === true };
    }
    case 'roles': {
      const { values, username } = parseWithUsername(args, { role: { type: 'string', multiple: true } }, command);
      return { name: 'user roles', username, roles: roles(values.role, command) };
    }
    case 'password': {
      const { values, username } = parseWithUsername(args, { 'password-stdin': { type: 'boolean' } }, command);
      return { name: 'user password', username, passwordStdin: values['password-stdin'] === true };
    }
    case 'disable':
    case 'enable': {
      const { username } = parseWithUsername(args, {}, command);
      return { name: sub === 'disable' ? 'user disable' : 'user enable', username };
    }
    case undefined:
      throw new UsageError('"user" needs a subcommand: add, list, roles, password, disable or enable');
    default:
      throw new UsageError(`unknown user subcommand "${sub}" (use add, list, roles, password, disable or enable)`);
  }
}

function roles(raw: string | boolean | string[] | undefined, command: string): Role[] {
  const list = Array.isArray(raw) ? raw : [];
  if (list.length === 0) throw new UsageError(`"${command}" needs at least one --role (${ROLES.join(', ')})`);
  const result: Role[] = [];
  for (const role of list) {
    const lower = role.toLowerCase();
    if (!isRole(lower)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}, got "${role}"`);
    if (!result.includes(lower)) result.push(lower);
  }
  return result;
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

/** Options plus exactly one positional argument, the username. */
function parseWithUsername(args: string[], options: OptionSpec, command: string): { values: Record<string, string | boolean | string[] | undefined>; username: string } {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (error) {
    throw new UsageError(`${command}: ${rephrase((error as Error).message)}`);
  }
  if (parsed.positionals.length !== 1) throw new UsageError(`"${command}" needs exactly one USERNAME${parsed.positionals.length > 1 ? `, got "${parsed.positionals.join('", "')}"` : ''}`);
  return { values: parsed.values as Record<string, string | boolean | string[] | undefined>, username: parsed.positionals[0] };
}

function parse(args: string[], options: OptionSpec, command: string): { values: Record<string, string | boolean | undefined> } {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new UsageError(`"${command}" takes no argument "${positionals[0]}"`);
    return { values: values as Record<string, string | boolean | undefined> };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${command}: ${rephrase((error as Error).message)}`);
  }
}

function singleId(args: string[], command: string, what: string): string {
  const option = args.find((arg) => arg.startsWith('-'));
  if (option !== undefined) throw new UsageError(`${command}: unknown option "${option}"`);
  if (args.length !== 1) throw new UsageError(`"${command}" needs exactly one ${what} id`);
  if (!UUID.test(args[0])) throw new UsageError(`${command}: "${args[0]}" is not a ${what} id (a UUID)`);
  return args[0].toLowerCase();
}

function noMore(args: string[], command: string): void {
  if (args.length > 0) throw new UsageError(args[0].startsWith('-') ? `${command}: unknown option "${args[0]}"` : `"${command}" takes no argument "${args[0]}"`);
}

/** node:util's messages say "Unknown option '--x'"; keep the word, lose the advice about "--". */
function rephrase(message: string): string {
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown !== null) return `unknown option "${unknown[1]}"`;
  const missing = /Option '([^']+)' argument missing/.exec(message);
  if (missing !== null) return `option "${missing[1].split(' ')[0]}" needs a value`;
  return message.split('\n')[0];
}
