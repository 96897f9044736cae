import type { INestApplicationContext } from '@nestjs/common';
import { userInfo } from 'node:os';
import { AuditContext, runWithAuditContext } from '../modules/audit/audit-context';
import { AuditService } from '../modules/audit/audit.service';
import { AdminAuthService } from '../modules/admin-auth/admin-auth.service';
import { AgentsService } from '../modules/agents/agents.service';
import { agentView } from '../modules/agents/agents.controller';
import { enrollmentTokenView } from '../modules/enrollment/enrollment-tokens.controller';
import { EnrollmentTokensService } from '../modules/enrollment/enrollment-tokens.service';
import { generatePassword } from '../modules/auth/password-hash';
import { userView, UsersService } from '../modules/auth/users.service';
import type { Command } from './command-line';
import { ReleasesService } from '../modules/releases/releases.service';
import { agentReleaseView } from '../modules/releases/releases.controller';
import { readFile } from 'node:fs/promises';
import { CaRotationService } from '../modules/pki/ca-rotation.service';
import { basename } from 'node:path';

type Print = (line: string) => void;
/** Reads all of standard input (for --password-stdin). */
export type ReadInput = () => Promise<string>;

function readProcessStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => (text += chunk));
    process.stdin.once('end', () => resolve(text));
    process.stdin.once('error', reject);
  });
}

/** The password piped in: everything up to the first line break (so `echo pw |` and a file with a final newline both work). */
async function passwordFrom(readInput: ReadInput): Promise<string> {
  return (await readInput()).split(/\r?\n/)[0];
}

/**
 * The tokens, agents, admin-token and audit subcommands, over the same services REST uses;
 * resolves to the exit code. Changes are recorded in the audit log as made by the command line
 * (a system actor naming the operating-system user), from "local".
 */
export function runAdminCommand(context: INestApplicationContext, command: Command, print: Print, readInput: ReadInput = readProcessStdin): Promise<number> {
  return runWithAuditContext(commandLineAuditContext(command), () => runCommand(context, command, print, readInput));
}

function commandLineAuditContext(command: Command): AuditContext {
  return { actor: { kind: 'system', id: 'cli', name: `mamori-server ${command.name} (${commandLineActor()})` }, sourceAddress: 'local' };
}

/** The operating-system user running the command line. */
function commandLineActor(): string {
  try {
    return userInfo().username;
  } catch {
    // A uid without a passwd entry (some containers).
    return `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}

async function runCommand(context: INestApplicationContext, command: Command, print: Print, readInput: ReadInput): Promise<number> {
  switch (command.name) {
    case 'user add': {
      const password = command.passwordStdin ? await passwordFrom(readInput) : generatePassword();
      const user = await context.get(UsersService).create({ username: command.username, displayName: command.displayName, roles: command.roles, password });
      print(`mamori-server: user "${user.username}" added (${user.roles.join(', ')})`);
      if (!command.passwordStdin) print(`  password (shown once): ${password}`);
      print('  sign in to the console at the collector\'s HTTP address (/signin)');
      return 0;
    }
    case 'user list': {
      const views = (await context.get(UsersService).list()).map(userView);
      if (command.json) {
        print(JSON.stringify({ items: views }));
        return 0;
      }
      print(table(['USERNAME', 'ROLES', 'STATE', 'LAST SIGN-IN', 'DISPLAY NAME'], views.map((v) => [v.username, v.roles.join(','), v.disabled ? 'disabled' : 'enabled', v.lastSignInAt ?? 'never', v.displayName])));
      return 0;
    }
    case 'user roles': {
      const users = context.get(UsersService);
      const user = await users.update((await users.getByUsername(command.username)).id, { roles: command.roles });
      print(`mamori-server: user "${user.username}" now holds ${user.roles.join(', ')}`);
      return 0;
    }
    case 'user password': {
      const users = context.get(UsersService);
      const user = await users.getByUsername(command.username);
      const password = command.passwordStdin ? await passwordFrom(readInput) : generatePassword();
      const { sessionsEnded } = await users.setPassword(user.id, password, { action: 'user.password_reset' });
      print(`mamori-server: password of "${user.username}" set; ${sessionsEnded} session${sessionsEnded === 1 ? '' : 's'} ended`);
      if (!command.passwordStdin) print(`  password (shown once): ${password}`);
      return 0;
    }
    case 'user disable':
    case 'user enable': {
      const users = context.get(UsersService);
      const disabled = command.name === 'user disable';
      const user = await users.update((await users.getByUsername(command.username)).id, { disabled });
      print(`mamori-server: user "${user.username}" ${disabled ? 'disabled; their sessions are ended and their API tokens refused' : 'enabled'}`);
      return 0;
    }
    case 'audit verify': {
      const result = await context.get(AuditService).verify(command.anchor ?? null);
      if (command.json) print(JSON.stringify(result));
      else if (result.ok) {
        print(`mamori-server: audit log verified: ${result.records} record${result.records === 1 ? '' : 's'}, chain unbroken${command.anchor === undefined ? '' : `, record ${command.anchor.sequence} matches the anchor`}`);
        if (result.last !== null) {
          print(`  newest: sequence ${result.last.sequence}, hash ${result.last.hash}`);
          print(`  keep this elsewhere and check later with: mamori-server audit verify --anchor ${result.last.sequence}:${result.last.hash}`);
        }
      } else if (result.firstBroken !== null) {
        print(`mamori-server: audit log BROKEN at record ${result.firstBroken.sequence} (id ${result.firstBroken.id}): ${result.firstBroken.reason}`);
        print(`  ${result.records - 1} record${result.records === 2 ? '' : 's'} before it verified`);
      }
      return result.ok ? 0 : 1;
    }
    case 'tokens create': {
      const created = await context.get(EnrollmentTokensService).create({
        label: command.label,
        maxUses: command.maxUses,
        expiresInSeconds: command.expiresInSeconds,
        zone: command.zone,
      });
      const view = enrollmentTokenView(created.entity);
      if (command.json) {
        print(JSON.stringify({ ...view, token: created.token, caPin: created.caPin, enrollCommand: created.enrollCommand }));
        return 0;
      }
      print(`mamori-server: enrollment token (shown once): ${created.token}`);
      print(`  id:        ${view.id}`);
      if (view.label !== '') print(`  label:     ${view.label}`);
      print(`  expires:   ${view.expiresAt}`);
      print(`  max uses:  ${view.maxUses ?? 'unlimited until expiry'}`);
      if (view.zone !== null) print(`  zone:      ${view.zone} (every agent it enrolls is required in it; an install naming another zone is refused)`);
      print(`  CA pin:    ${created.caPin}`);
      print('Enroll an agent (on its machine) with:');
      print(`  ${created.enrollCommand}`);
      return 0;
    }
    case 'tokens list': {
      const views = (await context.get(EnrollmentTokensService).list()).map((token) => enrollmentTokenView(token));
      if (command.json) {
        print(JSON.stringify({ items: views }));
        return 0;
      }
      print(table(['ID', 'STATE', 'USES', 'EXPIRES', 'LABEL'], views.map((v) => [v.id, v.state, `${v.uses}/${v.maxUses ?? '∞'}`, v.expiresAt, v.label])));
      return 0;
    }
    case 'tokens revoke': {
      const view = enrollmentTokenView(await context.get(EnrollmentTokensService).revoke(command.id));
      print(`mamori-server: enrollment token ${view.id} revoked at ${view.revokedAt}`);
      return 0;
    }
    case 'agents list': {
      const views = (await context.get(AgentsService).list()).map(agentView);
      if (command.json) {
        print(JSON.stringify({ items: views }));
        return 0;
      }
      print(table(['ID', 'STATUS', 'HOSTNAME', 'LAST SEEN', 'POLICY'], views.map((v) => [v.id, v.status, v.hostname, v.lastSeenAt ?? 'never', String(v.policyVersion)])));
      return 0;
    }
    case 'agents revoke': {
      const view = agentView(await context.get(AgentsService).revoke(command.id));
      print(`mamori-server: agent ${view.id} (${view.hostname || 'unnamed host'}) revoked at ${view.revokedAt}; a running collector refuses it within 5 seconds`);
      return 0;
    }
    case 'release add': {
      const added = await context.get(ReleasesService).add(basename(command.archive), await readFile(command.archive), commandLineActor());
      const view = agentReleaseView(added);
      if (command.json) {
        print(JSON.stringify(view));
        return 0;
      }
      print(`mamori-server: agent release ${view.version} for ${view.platform} stored (${view.sizeBytes} bytes, sha256 ${view.sha256})`);
      print(`  agents upgrade once it is the target: PUT /api/v1/agent-releases/target {"version":"${view.version}"}`);
      return 0;
    }
    case 'release list': {
      const releases = context.get(ReleasesService);
      const views = (await releases.list()).map(agentReleaseView);
      const target = await releases.target();
      if (command.json) {
        print(JSON.stringify({ target, items: views }));
        return 0;
      }
      print(`target: ${target === null ? 'none (agents keep their version)' : target.version}`);
      print(table(['VERSION', 'PLATFORM', 'BYTES', 'SHA256', 'UPLOADED', 'BY'], views.map((v) => [v.version, v.platform, String(v.sizeBytes), v.sha256, v.uploadedAt, v.uploadedBy])));
      return 0;
    }
    case 'ca status': {
      const status = await context.get(CaRotationService).status();
      if (command.json) {
        print(JSON.stringify(status));
        return 0;
      }
      print(`stage: ${status.stage}`);
      print(table(['ROLE', 'PIN', 'SUBJECT', 'NOT AFTER', 'FILE'], status.authorities.map((a) => [a.role, a.pin, a.subject, a.notAfter, a.source])));
      const { agents } = status;
      print(`agents: ${agents.enrolled} enrolled, ${agents.trustingEveryCa} trust every CA above, ${agents.onSigningCa} have a certificate from the signing CA`);
      if (agents.notReadyCount > 0) {
        print(`not ready (${agents.notReadyCount}):`);
        print(
          table(
            ['ID', 'HOSTNAME', 'LAST SEEN', 'CERTIFICATE FROM', 'TRUSTS'],
            agents.notReady.map((a) => [a.id, a.hostname, a.lastSeenAt ?? 'never', a.certificateIssuer ?? 'not reported yet', a.trustedCaPins?.join(' ') ?? 'not reported (agent older than CA rotation?)']),
          ),
        );
      }
      print(`next: ${status.nextStep}`);
      return 0;
    }
    case 'ca rotate': {
      const next = await context.get(CaRotationService).rotate();
      if (command.json) {
        print(JSON.stringify(next));
        return 0;
      }
      print(`mamori-server: created the next CA ${next.pin} (${next.subject}, valid until ${next.notAfter}) in ${next.source}`);
      print('  Restart the collector: it then trusts both CAs and asks each agent at its next heartbeat to renew, which hands it both.');
      print('  "mamori-server ca status" shows when every agent trusts the next CA; then run "mamori-server ca switch".');
      return 0;
    }
    case 'ca switch': {
      const switched = await context.get(CaRotationService).switch(command.force);
      if (command.json) {
        print(JSON.stringify(switched));
        return 0;
      }
      print(`mamori-server: CA ${switched.signing.pin} signs from the next start on; CA ${switched.previous.pin} stays trusted as the previous CA`);
      if (switched.agentsLeftBehind.length > 0) print(`  --force: ${switched.agentsLeftBehind.length} agent(s) that do not trust the new CA must enroll again: ${switched.agentsLeftBehind.map((a) => a.id).join(', ')}`);
      if (switched.usableTokens > 0) {
        print(`  ${switched.usableTokens} usable enrollment token(s) pin the old CA: agents refuse to enroll with them from now on; revoke them and create new ones (tokens create)`);
      }
      print('  Restart the collector: it re-issues its server certificate from the new CA and asks each agent to renew from it.');
      print('  "mamori-server ca status" shows when every agent has a certificate from the new CA; then run "mamori-server ca retire".');
      return 0;
    }
    case 'ca retire': {
      const retired = await context.get(CaRotationService).retire(command.force);
      if (command.json) {
        print(JSON.stringify(retired));
        return 0;
      }
      print(`mamori-server: CA ${retired.retired.pin} (${retired.retired.subject}) is no longer trusted from the next start on; its files are deleted`);
      if (retired.agentsLeftBehind.length > 0) print(`  --force: ${retired.agentsLeftBehind.length} agent(s) without a certificate from the signing CA must enroll again: ${retired.agentsLeftBehind.map((a) => a.id).join(', ')}`);
      print('  Restart the collector to stop trusting it.');
      return 0;
    }
    case 'admin-token reset': {
      const token = await context.get(AdminAuthService).reset();
      print(`mamori-server: administrator API token (shown once): ${token}`);
      print('Every earlier stored administrator token no longer works; a running collector switches within 5 seconds.');
      return 0;
    }
    default:
      throw new Error(`"${command.name}" is not an administration command`);
  }
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
