import type { INestApplicationContext } from '@nestjs/common';
import { AdminAuthService } from '../modules/admin-auth/admin-auth.service';
import { AgentsService } from '../modules/agents/agents.service';
import { agentView } from '../modules/agents/agents.controller';
import { enrollmentTokenView } from '../modules/enrollment/enrollment-tokens.controller';
import { EnrollmentTokensService } from '../modules/enrollment/enrollment-tokens.service';
import type { Command } from './command-line';

type Print = (line: string) => void;

/** The tokens, agents and admin-token subcommands, over the same services REST uses. */
export async function runAdminCommand(context: INestApplicationContext, command: Command, print: Print): Promise<void> {
  switch (command.name) {
    case 'tokens create': {
      const created = await context.get(EnrollmentTokensService).create({
        label: command.label,
        maxUses: command.maxUses,
        expiresInSeconds: command.expiresInSeconds,
      });
      const view = enrollmentTokenView(created.entity);
      if (command.json) {
        print(JSON.stringify({ ...view, token: created.token, caPin: created.caPin, enrollCommand: created.enrollCommand }));
        return;
      }
      print(`mamori-server: enrollment token (shown once): ${created.token}`);
      print(`  id:        ${view.id}`);
      if (view.label !== '') print(`  label:     ${view.label}`);
      print(`  expires:   ${view.expiresAt}`);
      print(`  max uses:  ${view.maxUses ?? 'unlimited until expiry'}`);
      print(`  CA pin:    ${created.caPin}`);
      print('Enroll an agent (on its machine) with:');
      print(`  ${created.enrollCommand}`);
      return;
    }
    case 'tokens list': {
      const views = (await context.get(EnrollmentTokensService).list()).map((token) => enrollmentTokenView(token));
      if (command.json) {
        print(JSON.stringify({ items: views }));
        return;
      }
      print(table(['ID', 'STATE', 'USES', 'EXPIRES', 'LABEL'], views.map((v) => [v.id, v.state, `${v.uses}/${v.maxUses ?? '∞'}`, v.expiresAt, v.label])));
      return;
    }
    case 'tokens revoke': {
      const view = enrollmentTokenView(await context.get(EnrollmentTokensService).revoke(command.id));
      print(`mamori-server: enrollment token ${view.id} revoked at ${view.revokedAt}`);
      return;
    }
    case 'agents list': {
      const views = (await context.get(AgentsService).list()).map(agentView);
      if (command.json) {
        print(JSON.stringify({ items: views }));
        return;
      }
      print(table(['ID', 'STATUS', 'HOSTNAME', 'LAST SEEN', 'POLICY'], views.map((v) => [v.id, v.status, v.hostname, v.lastSeenAt ?? 'never', String(v.policyVersion)])));
      return;
    }
    case 'agents revoke': {
      const view = agentView(await context.get(AgentsService).revoke(command.id));
      print(`mamori-server: agent ${view.id} (${view.hostname || 'unnamed host'}) revoked at ${view.revokedAt}; a running collector refuses it within 5 seconds`);
      return;
    }
    case 'admin-token reset': {
      const token = await context.get(AdminAuthService).reset();
      print(`mamori-server: administrator API token (shown once): ${token}`);
      print('Every earlier stored administrator token no longer works; a running collector switches within 5 seconds.');
      return;
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
