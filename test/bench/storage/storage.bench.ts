import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { Event } from '../../../agent/src/generated/mamori/v1/events';
import type { DatabaseKind } from '../../support/databases';
import { probePostgres } from '../../support/postgres';
import { figure, type BenchContext, type BenchOutcome, type Benchmark, type Side } from '../benchmark';
import { round } from '../stats';
import { enrollFleet, makeFleet, positiveIntegerEnv, startBenchCollector, type BenchCollector } from '../loadgen/bench-support';
import { EventMix } from '../loadgen/event-mix';

/**
 * Storage: bytes on disk per stored event, tables and indexes included, after the realistic mix
 * went through the collector's whole ingest path (events, transfer log, violations, posture).
 * Measured as the growth of the database from the freshly migrated schema: SQLite by dbstat page
 * sizes per table and index (and the file size after a WAL checkpoint), PostgreSQL by
 * pg_total_relation_size of every table (indexes and TOAST included). The baseline is the
 * protobuf wire size of the same events: the ratio is how much bigger an event is stored than sent.
 *
 * Env: MAMORI_BENCH_STORAGE_EVENTS (default 100000), MAMORI_BENCH_STORAGE_AGENTS (default 20).
 */

const SIDES: Side[] = [
  { id: 'stored', label: 'stored on disk' },
  { id: 'wire', label: 'protobuf on the wire', baseline: true },
];

type Sizes = Map<string, number>;

function sqliteSizes(file: string): { byName: Sizes; fileBytes: number } {
  const db = new Database(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    const byName: Sizes = new Map();
    try {
      for (const row of db.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as Array<{ name: string; bytes: number }>) byName.set(row.name, row.bytes);
    } catch {
      // No dbstat in this build of SQLite: the whole file, page by page.
      const pages = db.pragma('page_count', { simple: true }) as number;
      const size = db.pragma('page_size', { simple: true }) as number;
      byName.set('(all pages)', pages * size);
    }
    return { byName, fileBytes: statSync(file).size };
  } finally {
    db.close();
  }
}

async function postgresSizes(url: string): Promise<Sizes> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ relname: string; bytes: string }>(
      `SELECT c.relname, pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind = 'r'`,
    );
    return new Map(result.rows.map((r) => [r.relname, Number(r.bytes)]));
  } finally {
    await client.end();
  }
}

async function sizesOf(collector: BenchCollector): Promise<{ byName: Sizes; fileBytes?: number }> {
  return collector.kind === 'sqlite' ? sqliteSizes(join(collector.dataDir, 'mamori.sqlite')) : { byName: await postgresSizes(collector.databaseUrl!) };
}

function growth(before: Sizes, after: Sizes): Array<[string, number]> {
  return [...after.entries()].map(([name, bytes]) => [name, bytes - (before.get(name) ?? 0)] as [string, number]).filter(([, d]) => d > 0).sort((a, b) => b[1] - a[1]);
}

async function measure(kind: DatabaseKind, events: number, context: BenchContext): Promise<{ perEvent: number; stored: number; top: Array<[string, number]>; fileBytesPerEvent?: number } | { skipped: string }> {
  const started = await startBenchCollector(kind);
  if ('skipped' in started) return started;
  const { collector, cleanup } = started;
  try {
    const agents = positiveIntegerEnv('MAMORI_BENCH_STORAGE_AGENTS', 20);
    const set = await enrollFleet(collector, agents);
    const before = await sizesOf(collector);
    const fleet = makeFleet(collector, set, { batch: 1000, concurrency: 4, rate: 0, heartbeatSeconds: 0, watchPolicy: false });
    try {
      // Upload in steps until the asked number is stored (each step a few seconds).
      while (fleet.counters.eventsStored < events) {
        const errorsBefore = Object.values(fleet.counters.uploadErrors).reduce((a, b) => a + b, 0);
        await fleet.uploadFor(2000);
        const errors = Object.values(fleet.counters.uploadErrors).reduce((a, b) => a + b, 0);
        if (errors > errorsBefore) throw new Error(`uploads failed while filling the ${kind} database: ${JSON.stringify(fleet.counters.uploadErrors)}`);
      }
    } finally {
      fleet.stop();
    }
    const stored = fleet.counters.eventsStored;
    await collector.process.stop(30_000);
    const after = await sizesOf(collector);
    const top = growth(before.byName, after.byName);
    const total = top.reduce((sum, [, d]) => sum + d, 0);
    context.log(`${kind}: ${stored} events, ${total} bytes of growth`);
    return {
      perEvent: total / stored,
      stored,
      top,
      fileBytesPerEvent: before.fileBytes !== undefined && after.fileBytes !== undefined ? (after.fileBytes - before.fileBytes) / stored : undefined,
    };
  } finally {
    await cleanup();
  }
}

/** Mean protobuf size of events of the same mix, as the agent sends them. */
export function wireBytesPerEvent(count = 20_000): number {
  const mix = new EventMix(0);
  let bytes = 0;
  for (const e of mix.batch(count)) bytes += Event.encode(e).finish().length;
  return bytes / count;
}

export const storageBenchmark: Benchmark = {
  name: 'storage',
  title: 'Storage: bytes on disk per stored event (tables and indexes) vs its protobuf size, SQLite and PostgreSQL',
  async run(context: BenchContext): Promise<BenchOutcome> {
    const events = positiveIntegerEnv('MAMORI_BENCH_STORAGE_EVENTS', 100_000);
    const wire = wireBytesPerEvent();
    const notes: string[] = [];
    const values: Record<DatabaseKind, number | undefined> = { sqlite: undefined, postgres: undefined };
    for (const kind of ['sqlite', 'postgres'] as const) {
      if (kind === 'postgres') {
        const problem = await probePostgres();
        if (problem !== null) {
          notes.push(`PostgreSQL not measured: ${problem}`);
          continue;
        }
      }
      const result = await measure(kind, events, context);
      if ('skipped' in result) {
        notes.push(`${kind} not measured: ${result.skipped}`);
        continue;
      }
      values[kind] = result.perEvent;
      notes.push(
        `${kind}: ${result.stored} events stored; growth by table or index, bytes per event: ${result.top
          .slice(0, 10)
          .map(([name, d]) => `${name} ${round(d / result.stored)}`)
          .join(', ')}${result.fileBytesPerEvent !== undefined ? `; file size growth after a WAL checkpoint: ${round(result.fileBytesPerEvent)} bytes per event` : ''}.`,
      );
    }
    notes.push(
      `Wire size: mean protobuf encoding of the same mix, ${round(wire)} bytes per event. The collector stores each event's validated payload as JSON text with four indexes on the events table, plus a transfer-log row per file transfer and violations where rules fire.`,
    );
    return {
      status: 'measured',
      sides: SIDES,
      figures: [
        figure(SIDES, 'sqlite-bytes-per-event', 'bytes per stored event, SQLite (dbstat, all tables and indexes)', 'bytes', { stored: values.sqlite === undefined ? undefined : [values.sqlite], wire: [wire] }),
        figure(SIDES, 'postgres-bytes-per-event', 'bytes per stored event, PostgreSQL (pg_total_relation_size, all tables)', 'bytes', { stored: values.postgres === undefined ? undefined : [values.postgres], wire: [wire] }),
      ],
      counts: [],
      parameters: { events, agents: positiveIntegerEnv('MAMORI_BENCH_STORAGE_AGENTS', 20) },
      notes,
    };
  },
};
