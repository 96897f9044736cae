import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import type { ValidatedEvent } from '../../../server/src/modules/ingest/event-validation';
import { normalizeDestination, normalizeZoneCidrs, normalizeZoneSuffixes, parsePorts, restFieldName } from '../../../server/src/modules/network/destination-syntax';
import { policyDocumentFrom } from '../../../server/src/modules/policy/policy-document';
import { destinationAttemptOf, destinationKey, destinationSeverity, destinationSummary, foldDestinationAttempts, judgeZone } from '../../../server/src/modules/network/network.rules';

function accessEvent(payload: Record<string, unknown>, at = 1_700_000_000_000, eventId = 'e1'): ValidatedEvent {
  return { eventId, occurredAtMs: at, sequence: '1', userName: 'alice', kind: 'destination_access', payload };
}

const blocked = (extra: Record<string, unknown> = {}, at?: number, eventId?: string) =>
  accessEvent(
    {
      host: 'Paste.Example.COM.',
      ipAddress: '198.51.100.7',
      port: 443,
      protocol: 'TRANSPORT_PROTOCOL_TCP',
      decision: 'DESTINATION_DECISION_BLOCKED',
      zone: 'dev-lan',
      processName: 'curl',
      processId: 7,
      observer: 'DESTINATION_OBSERVER_FIREWALL',
      attempts: 0,
      ...extra,
    },
    at,
    eventId,
  );

function message(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    assert.ok(error instanceof BadRequestException, String(error));
    return String((error.getResponse() as { message: string }).message);
  }
  throw new Error('expected a 400');
}

describe('network rules', () => {
  test('only blocked and audited accesses are attempts; the host is folded to lower case without a trailing dot; 0 attempts count as one', () => {
    assert.equal(destinationAttemptOf(blocked({ decision: 'DESTINATION_DECISION_ALLOWED' })), null);
    assert.equal(destinationAttemptOf(blocked({ decision: 'DESTINATION_DECISION_UNSPECIFIED' })), null);
    const attempt = destinationAttemptOf(blocked())!;
    assert.deepEqual([attempt.host, attempt.protocol, attempt.decision, attempt.attempts, attempt.observer], ['paste.example.com', 'tcp', 'blocked', 1, 'firewall']);
    assert.equal(destinationAttemptOf(blocked({ decision: 'DESTINATION_DECISION_AUDITED', attempts: 4 }))!.attempts, 4);
    assert.equal(destinationAttemptOf(blocked({ host: 'ダウンロード.例え.JP.' }))!.host, 'xn--gck8b2a7k3a9c.xn--r8jz45g.jp');
  });

  test('one key per agent, destination (host, else address), protocol and port', () => {
    const byHost = destinationAttemptOf(blocked())!;
    const otherAddress = destinationAttemptOf(blocked({ ipAddress: '198.51.100.8' }))!;
    const bare = destinationAttemptOf(blocked({ host: '' }))!;
    const otherPort = destinationAttemptOf(blocked({ port: 80 }))!;
    assert.equal(destinationKey('a', byHost), destinationKey('a', otherAddress), 'the same host at another address folds');
    assert.notEqual(destinationKey('a', byHost), destinationKey('b', byHost));
    assert.notEqual(destinationKey('a', byHost), destinationKey('a', otherPort));
    assert.match(destinationKey('a', bare), /198\.51\.100\.7:tcp:443$/);
  });

  test('folding adds the attempts, keeps the first and last times and every address, and an audited attempt makes it high', () => {
    const first = foldDestinationAttempts(null, [destinationAttemptOf(blocked({ attempts: 3 }, 1000, 'a'))!, destinationAttemptOf(blocked({ ipAddress: '198.51.100.8' }, 2000, 'b'))!]);
    assert.deepEqual([first.attempts, first.blockedAttempts, first.auditedAttempts, first.lastEventId], [4, 4, 0, 'b']);
    assert.deepEqual(first.ipAddresses, ['198.51.100.7', '198.51.100.8']);
    assert.equal(destinationSeverity(first), 'medium');
    const later = foldDestinationAttempts(first, [destinationAttemptOf(blocked({ decision: 'DESTINATION_DECISION_AUDITED' }, 500, 'c'))!]);
    assert.deepEqual([later.attempts, later.auditedAttempts, later.decision], [5, 1, 'audited']);
    assert.equal(later.firstSeenAt, new Date(500).toISOString(), 'a late-arriving older attempt moves the first time back');
    assert.equal(later.lastSeenAt, new Date(2000).toISOString());
    assert.equal(destinationSeverity(later), 'high');
    assert.match(destinationSummary(later, 'dev-pc'), /paste\.example\.com \(198\.51\.100\.7\) port 443\/tcp from zone dev-lan on dev-pc by curl \(4 blocked, 1 let through in audit mode\)/);
  });

  test('zone judgement: no required zone clears, no reported zone says nothing, another zone raises', () => {
    assert.equal(judgeZone(null, 'office-lan'), 'clear');
    assert.equal(judgeZone('', 'office-lan'), 'clear');
    assert.equal(judgeZone('dev-lan', ''), 'unknown');
    assert.equal(judgeZone('dev-lan', 'dev-lan'), 'clear');
    assert.equal(judgeZone('dev-lan', 'office-lan'), 'raise');
  });
});

describe('destination syntax on REST', () => {
  test('ports: single ports, ranges and numbers; anything else names ports[i]', () => {
    assert.deepEqual(parsePorts(['443', 22, '8000 - 8100']), [
      { first: 22, last: 22 },
      { first: 443, last: 443 },
      { first: 8000, last: 8100 },
    ]);
    assert.match(message(() => parsePorts(['443', '0'])), /^ports\[1\]/);
    assert.match(message(() => parsePorts(['90-80'])), /^ports\[0\]/);
    assert.match(message(() => parsePorts(['https'])), /^ports\[0\]/);
  });

  test('destinations are normalized by the shared matcher and its errors name the REST field', () => {
    assert.deepEqual(normalizeDestination({ hostPattern: '*.Example.COM.' }, { service: 'any', zone: '' }), { hostPattern: '*.example.com', cidr: '', ports: [], protocol: 'any' });
    assert.equal(normalizeDestination({ cidr: '::ffff:10.0.0.0/104' }, { service: 'any', zone: '' }).cidr, '10.0.0.0/8');
    assert.equal(normalizeDestination({ hostPattern: '.例え.jp' }, { service: 'web', zone: 'dev-lan' }).hostPattern, '.xn--r8jz45g.jp');
    assert.match(message(() => normalizeDestination({}, { service: 'any', zone: '' })), /^hostPattern/);
    assert.match(message(() => normalizeDestination({ cidr: '10.0.0.0/33' }, { service: 'any', zone: '' })), /^cidr/);
    assert.match(message(() => normalizeDestination({ hostPattern: 'a..b' }, { service: 'any', zone: '' })), /^hostPattern/);
    assert.match(message(() => normalizeDestination({ cidr: '10.0.0.1' }, { service: 'any', zone: 'Dev LAN' })), /^zone/);
    assert.equal(restFieldName('dns_suffixes'), 'dnsSuffixes');
  });

  test('zone blocks and suffixes are canonical and deduplicated; errors name the item', () => {
    assert.deepEqual(normalizeZoneCidrs(['10.20.0.0/16', ' 10.20.0.0/16 ', '::ffff:192.168.0.0/112']), ['10.20.0.0/16', '192.168.0.0/16']);
    assert.deepEqual(normalizeZoneSuffixes(['.Dev.Example.co.jp.', 'dev.example.co.jp']), ['dev.example.co.jp']);
    assert.match(message(() => normalizeZoneCidrs(['10.0.0.0/8', 'nonsense'])), /^cidrs\[1\]/);
    assert.match(message(() => normalizeZoneSuffixes(['bad..suffix'])), /^dnsSuffixes\[0\]/);
  });
});

describe('policy documents', () => {
  test('a version stored before issue 6 reads with no zones and no whitelist; a stored network part reads back whole', () => {
    assert.deepEqual(policyDocumentFrom({ usb: {}, transfer: {} }).network, { zones: [], whitelist: [] });
    const network = {
      zones: [{ name: 'dev-lan', cidrs: ['10.20.0.0/16'], dnsSuffixes: [], mode: 'ZONE_ENFORCEMENT_MODE_ENFORCE' }],
      whitelist: [
        {
          entryId: 'e1',
          hostPattern: 'git.example.com',
          cidr: '',
          ports: [{ first: 443, last: 443 }],
          protocol: 'TRANSPORT_PROTOCOL_TCP',
          service: 'git',
          zone: 'dev-lan',
          justification: 'git',
          requestedBy: 'hanako',
          approvedBy: 'taro',
          expiresAt: null,
        },
      ],
    };
    assert.deepEqual(policyDocumentFrom(JSON.parse(JSON.stringify({ network }))).network, network);
  });
});
