import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { validateUploadBatch } from '../../../server/src/modules/ingest/event-validation';
import type { DatabaseKind } from '../../support/databases';
import { createTestDatabase, probePostgres } from '../../support/postgres';
import { makeTempDir } from '../../support/temp-dir';
import { figure, type BenchContext, type BenchOutcome, type Benchmark, type Side } from '../benchmark';
import { round } from '../stats';
import { enrollFleet, makeFleet, newestCpuProfile, positiveIntegerEnv, startBenchCollector, summarizeCpuProfile } from '../loadgen/bench-support';
import { EventMix } from '../loadgen/event-mix';

/**
 * Ingest throughput: events per second the collector stores, sustained, from simulated agents on
 * the same machine (real mTLS gRPC, the realistic event mix, the collector's whole ingest path:
 * validation, the events insert, USB rules, the transfer log, posture), against the raw driver
 * inserting the same kind of rows into a copy of the events table in the same run. Once on SQLite
 * and once on PostgreSQL; a third, shorter run on SQLite with --cpu-prof says where the time goes.
 *
 * Env: MAMORI_BENCH_INGEST_SECONDS (default 30), MAMORI_BENCH_INGEST_AGENTS (default 20),
 * MAMORI_BENCH_INGEST_BATCH (events per call, default 1000), MAMORI_BENCH_INGEST_CONCURRENCY
 * (calls in flight, default 8), MAMORI_BENCH_INGEST_RAW_ROWS (rows the raw driver inserts, default 200000),
 * MAMORI_BENCH_INGEST_PROFILE_SECONDS (0 skips the profiled run, default 10).
 */

const SIDES: Side[] = [
  { id: 'collector', label: 'collector (gRPC ingest)' },
  { id: 'raw', label: 'raw driver insert', baseline: true },
];

/** The events table as the initial migration creates it, without the foreign key (no agents table in the copy). */
function eventsTableSql(kind: DatabaseKind): string[] {
  const identity = kind === 'sqlite' ? 'INTEGER PRIMARY KEY AUTOINCREMENT' : 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
  return [
    `CREATE TABLE events (
      id ${identity},
      agent_id VARCHAR(36) NOT NULL,
      event_id VARCHAR(36) NOT NULL,
      sequence BIGINT NOT NULL,
      kind VARCHAR(32) NOT NULL,
      occurred_at BIGINT NOT NULL,
      received_at BIGINT NOT NULL,
      user_name TEXT NOT NULL,
      batch_id VARCHAR(36) NOT NULL,
      payload TEXT NOT NULL
    )`,
    `CREATE UNIQUE INDEX events_agent_event_key ON events (agent_id, event_id)`,
    `CREATE INDEX events_occurred_at_idx ON events (occurred_at DESC, id DESC)`,
    `CREATE INDEX events_agent_occurred_at_idx ON events (agent_id, occurred_at DESC, id DESC)`,
    `CREATE INDEX events_kind_occurred_at_idx ON events (kind, occurred_at DESC, id DESC)`,
  ];
}

type Row = [string, string, string, string, number, number, string, string, string];

/**
 * Rows exactly as the collector writes them: the same event mix, validated by the collector's own
 * validation, payload as the JSON text it stores. Made before the clock starts.
 */
export function makeRawRows(count: number, agents = 20, batch = 1000): Row[] {
  const rows: Row[] = [];
  const mixes = Array.from({ length: agents }, (_, i) => new EventMix(i));
  const agentIds = mixes.map(() => randomUUID());
  for (let b = 0; rows.length < count; b++) {
    const agent = b % agents;
    const batchId = randomUUID();
    const validated = validateUploadBatch({ batchId, events: mixes[agent]!.batch(Math.min(batch, count - rows.length)) });
    const now = Date.now();
    for (const e of validated.events) rows.push([agentIds[agent]!, e.eventId, e.sequence, e.kind, e.occurredAtMs, now, e.userName, validated.batchId, JSON.stringify(e.payload)]);
  }
  return rows;
}

const CHUNK = 10_000;

/** better-sqlite3: one prepared INSERT, one transaction per 10,000 rows, WAL like the collector. Rates per chunk. */
function rawSqlite(rows: Row[], dir: string): number[] {
  const db = new Database(join(dir, 'raw.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    for (const statement of eventsTableSql('sqlite')) db.exec(statement);
    const insert = db.prepare(
      `INSERT INTO events (agent_id, event_id, sequence, kind, occurred_at, received_at, user_name, batch_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, event_id) DO NOTHING`,
    );
    const chunkInsert = db.transaction((chunk: Row[]) => {
      for (const row of chunk) insert.run(row);
    });
    const rates: number[] = [];
    for (let start = 0; start < rows.length; start += CHUNK) {
      const chunk = rows.slice(start, start + CHUNK);
      const t0 = process.hrtime.bigint();
      chunkInsert(chunk);
      rates.push(chunk.length / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
    return rates;
  } finally {
    db.close();
  }
}

/** pg: INSERT … SELECT FROM unnest(9 arrays), 5,000 rows a statement, one transaction per 10,000 rows, in a database of its own. */
async function rawPostgres(rows: Row[]): Promise<number[]> {
  const database = await createTestDatabase();
  const client = new Client({ connectionString: database.url });
  try {
    await client.connect();
    for (const statement of eventsTableSql('postgres')) await client.query(statement);
    const rates: number[] = [];
    for (let start = 0; start < rows.length; start += CHUNK) {
      const chunk = rows.slice(start, start + CHUNK);
      const t0 = process.hrtime.bigint();
      await client.query('BEGIN');
      for (let s = 0; s < chunk.length; s += 5000) {
        const part = chunk.slice(s, s + 5000);
        const columns = Array.from({ length: 9 }, (_, c) => part.map((row) => row[c]));
        await client.query(
          `INSERT INTO events (agent_id, event_id, sequence, kind, occurred_at, received_at, user_name, batch_id, payload)
           SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::bigint[], $4::varchar[], $5::bigint[], $6::bigint[], $7::text[], $8::varchar[], $9::text[])
           ON CONFLICT (agent_id, event_id) DO NOTHING`,
          columns,
        );
      }
      await client.query('COMMIT');
      rates.push(chunk.length / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
    return rates;
  } finally {
    await client.end().catch(() => undefined);
    await database.drop();
  }
}

/** Stored events per whole second of the run (the last, partial second left out). */
export function perSecondRates(acks: ReadonlyArray<{ stored: number; atMs: number }>, startedMs: number, durationMs: number): number[] {
  const seconds = Math.floor(durationMs / 1000);
  const buckets = new Array<number>(seconds).fill(0);
  for (const ack of acks) {
    const second = Math.floor((ack.atMs - startedMs) / 1000);
    if (second >= 0 && second < seconds) buckets[second]! += ack.stored;
  }
  return buckets;
}

interface CollectorRun {
  rates: number[];
  stored: number;
  errors: Record<string, number>;
  profile?: ReturnType<typeof summarizeCpuProfile>;
}

async function collectorRun(kind: DatabaseKind, seconds: number, context: BenchContext, profileDir?: string): Promise<CollectorRun | { skipped: string }> {
  const agents = positiveIntegerEnv('MAMORI_BENCH_INGEST_AGENTS', 20);
  const batch = positiveIntegerEnv('MAMORI_BENCH_INGEST_BATCH', 1000);
  const concurrency = positiveIntegerEnv('MAMORI_BENCH_INGEST_CONCURRENCY', 8);
  const started = await startBenchCollector(kind, profileDir);
  if ('skipped' in started) return started;
  const { collector, cleanup } = started;
  try {
    const set = await enrollFleet(collector, agents);
    const fleet = makeFleet(collector, set, { batch, concurrency, rate: 0, heartbeatSeconds: 10 });
    try {
      await fleet.connect();
      // Warm-up: JIT, connection set-up and the first pages of the database are not the steady state.
      await fleet.uploadFor(3000);
      const acks: Array<{ stored: number; atMs: number }> = [];
      const before = fleet.counters.eventsStored;
      const t0 = Date.now();
      await fleet.uploadFor(seconds * 1000, (stored, atMs) => acks.push({ stored, atMs }));
      const rates = perSecondRates(acks, t0, seconds * 1000);
      context.log(`${kind}${profileDir ? ' (profiled)' : ''}: ${fleet.counters.eventsStored - before} events stored in ${seconds} s, errors ${JSON.stringify(fleet.counters.uploadErrors)}`);
      return { rates, stored: fleet.counters.eventsStored - before, errors: { ...fleet.counters.uploadErrors } };
    } finally {
      fleet.stop();
    }
  } finally {
    // A graceful stop: --cpu-prof writes its profile only when the process exits normally.
    await collector.process.stop(30_000);
    await cleanup();
  }
}

export const ingestBenchmark: Benchmark = {
  name: 'ingest',
  title: 'Ingest throughput: events/s the collector stores from simulated agents vs the raw driver insert of the same rows (SQLite, PostgreSQL)',
  async run(context: BenchContext): Promise<BenchOutcome> {
    const seconds = positiveIntegerEnv('MAMORI_BENCH_INGEST_SECONDS', 30);
    const rawCount = positiveIntegerEnv('MAMORI_BENCH_INGEST_RAW_ROWS', 200_000);
    const profileSeconds = Number(process.env.MAMORI_BENCH_INGEST_PROFILE_SECONDS ?? 10);
    const notes: string[] = [];
    const samples: Record<DatabaseKind, { collector?: number[]; raw?: number[] }> = { sqlite: {}, postgres: {} };
    const scratch = makeTempDir('mamori-bench-ingest-');
    try {
      context.log(`making ${rawCount} raw rows from the event mix`);
      const rows = makeRawRows(rawCount);
      for (const kind of ['sqlite', 'postgres'] as const) {
        if (kind === 'postgres') {
          const problem = await probePostgres();
          if (problem !== null) {
            notes.push(`PostgreSQL not measured: ${problem}`);
            continue;
          }
        }
        context.log(`${kind}: collector for ${seconds} s`);
        const run = await collectorRun(kind, seconds, context);
        if ('skipped' in run) {
          notes.push(`${kind} not measured: ${run.skipped}`);
          continue;
        }
        samples[kind].collector = run.rates;
        const errors = Object.entries(run.errors);
        notes.push(
          `${kind}: the collector stored ${run.stored} events in ${seconds} s (${Math.round(run.stored / seconds)} events/s on average)${errors.length ? `; refused or failed calls: ${errors.map(([k, v]) => `${k} ${v}`).join(', ')}` : ', no call failed'}.`,
        );
        context.log(`${kind}: raw driver insert of ${rows.length} rows`);
        samples[kind].raw = kind === 'sqlite' ? rawSqlite(rows, scratch.path) : await rawPostgres(rows);
      }
      if (profileSeconds > 0) {
        const profileDir = join(context.outputDir, 'ingest-profile');
        rmSync(profileDir, { recursive: true, force: true });
        mkdirSync(profileDir, { recursive: true });
        context.log(`sqlite: profiled collector run (--cpu-prof) for ${profileSeconds} s`);
        const run = await collectorRun('sqlite', profileSeconds, context, profileDir);
        const file = newestCpuProfile(profileDir);
        if ('skipped' in run || file === null) {
          notes.push('The profiled run wrote no .cpuprofile (the collector did not exit normally).');
        } else {
          const summary = summarizeCpuProfile(readFileSync(file, 'utf8'));
          notes.push(
            `Profile (collector with --cpu-prof, SQLite, ${profileSeconds} s of load, whole process life ${Math.round(summary.totalMs / 1000)} s; bench-output/ingest-profile/): self time by package: ${summary.packages.map((p) => `${p.name} ${p.percent}%`).join(', ')}.`,
            `Top self-time functions: ${summary.functions.map((f) => `${f.name} ${f.percent}%`).join('; ')}.`,
            `Time in the database driver by the code that called it: ${summary.databaseCallers.map((f) => `${f.name} ${f.percent}%`).join('; ')}.`,
          );
        }
      }
    } finally {
      scratch.cleanup();
    }
    const figures = [
      figure(SIDES, 'sqlite-events-per-second', 'events stored per second, SQLite (per 1-s window; raw: per 10,000-row transaction)', 'events/s', samples.sqlite),
      figure(SIDES, 'postgres-events-per-second', 'events stored per second, PostgreSQL (per 1-s window; raw: per 10,000-row transaction)', 'events/s', samples.postgres),
    ];
    for (const [f, goal] of [[figures[0]!, 100_000], [figures[1]!, 50_000]] as const) {
      const median = f.values.collector?.median;
      if (median !== undefined) notes.push(`${f.label}: collector median ${round(median)} events/s, ${round((100 * median) / goal)}% of the goal of ${goal}; ratio below 1 means slower than the raw driver.`);
    }
    notes.push(
      'The load generator runs in the bench process on the same 2 cores as the collector (it encodes protobuf and TLS too), so the collector gets less than the whole machine.',
      'Raw SQLite: better-sqlite3 prepared INSERT … ON CONFLICT DO NOTHING, one transaction per 10,000 rows, WAL, into a copy of the events table with its four indexes. Raw PostgreSQL: INSERT … SELECT FROM unnest(…) 5,000 rows a statement. The rows are the same mix, validated by the collector\'s validation, prepared before timing.',
    );
    return {
      status: 'measured',
      sides: SIDES,
      figures,
      counts: [],
      parameters: {
        seconds,
        agents: positiveIntegerEnv('MAMORI_BENCH_INGEST_AGENTS', 20),
        batch: positiveIntegerEnv('MAMORI_BENCH_INGEST_BATCH', 1000),
        concurrency: positiveIntegerEnv('MAMORI_BENCH_INGEST_CONCURRENCY', 8),
        rawRows: rawCount,
      },
      notes,
    };
  },
};
