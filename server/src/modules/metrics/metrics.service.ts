import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DatabaseService } from '../../database/database.service';
import { ViolationFeed } from '../violations/violation-feed.service';

/** Agents heard (heartbeat or upload) within this window count as connected. */
export const AGENTS_HEARD_WINDOW_SECONDS = 300;

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The collector's Prometheus metrics, in a registry of its own (not prom-client's global one),
 * so several collectors in one process (the tests) do not share numbers.
 *
 * Two kinds of numbers: counters and histograms this process measured since it started
 * (ingest, request latencies, open streams), which Prometheus sums over replicas; and gauges read
 * from the shared database at scrape time (agents heard, spool depth, violations), which every
 * replica reports alike, so aggregate those with max(), not sum().
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly eventsIngested = new Counter({
    name: 'mamori_events_ingested_total',
    help: 'Events stored from agent uploads, by event kind (duplicates of already-stored events are not counted).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly duplicateEvents = new Counter({
    name: 'mamori_events_duplicate_total',
    help: 'Uploaded events that were already stored (an agent retried a batch).',
    registers: [this.registry],
  });
  readonly ingestBatches = new Histogram({
    name: 'mamori_ingest_batch_duration_seconds',
    help: 'Time to validate, store and evaluate one UploadEvents batch, by outcome (stored, refused: invalid batch, failed: error).',
    labelNames: ['outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly violationsRaised = new Counter({
    name: 'mamori_violations_raised_total',
    help: 'Violations this process raised from ingested events.',
    registers: [this.registry],
  });
  readonly httpRequests = new Histogram({
    name: 'mamori_http_request_duration_seconds',
    help: 'REST request latency by method, route pattern and status code (event streams are counted by mamori_violation_streams_open instead).',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly grpcCalls = new Histogram({
    name: 'mamori_grpc_call_duration_seconds',
    help: 'gRPC call latency by method and status code; server streams (WatchPolicy) are measured from open to end.',
    labelNames: ['method', 'code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly grpcStreamsOpen = new Gauge({
    name: 'mamori_grpc_streams_open',
    help: 'Server streams open on this process by method; WatchPolicy streams are the agents connected to this replica.',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });

  constructor(
    private readonly database: DatabaseService,
    feed: ViolationFeed,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'mamori_' });
    new Gauge({
      name: 'mamori_violation_streams_open',
      help: 'Open violation event streams (GET /api/v1/violations/stream) on this process.',
      registers: [this.registry],
      collect() {
        this.set(feed.listenerCount);
      },
    });
    const heard = new Gauge({
      name: 'mamori_agents_heard',
      help: `Enrolled, unrevoked agents heard from within the last ${AGENTS_HEARD_WINDOW_SECONDS} s (read from the database: the whole installation).`,
      registers: [this.registry],
    });
    const enrolled = new Gauge({
      name: 'mamori_agents_enrolled',
      help: 'Enrolled agents by status (read from the database).',
      labelNames: ['status'] as const,
      registers: [this.registry],
    });
    const spoolEvents = new Gauge({
      name: 'mamori_agent_spool_events',
      help: `Events waiting in the agents' spools, as their last heartbeats reported, summed over agents heard within ${AGENTS_HEARD_WINDOW_SECONDS} s.`,
      registers: [this.registry],
    });
    const spoolMax = new Gauge({
      name: 'mamori_agent_spool_events_max',
      help: `The fullest spool among agents heard within ${AGENTS_HEARD_WINDOW_SECONDS} s (events).`,
      registers: [this.registry],
    });
    const dropped = new Gauge({
      name: 'mamori_agent_dropped_events',
      help: `Events agents heard within ${AGENTS_HEARD_WINDOW_SECONDS} s report dropped since enrollment because their spool was full, summed.`,
      registers: [this.registry],
    });
    const violations = new Gauge({
      name: 'mamori_violations',
      help: 'Violations in the database by rule and status (read from the database: the whole installation).',
      labelNames: ['rule', 'status'] as const,
      registers: [this.registry],
    });
    const readSeconds = new Gauge({
      name: 'mamori_metrics_database_read_seconds',
      help: 'How long the last scrape took to read the database gauges.',
      registers: [this.registry],
    });
    this.readDatabase = async () => {
      const started = process.hrtime.bigint();
      const since = new Date(Date.now() - AGENTS_HEARD_WINDOW_SECONDS * 1000);
      const agents = await this.database.query<{ status: string; n: number | string }>('SELECT status, COUNT(*) AS n FROM agents GROUP BY status');
      const recent = await this.database.query<{ health: unknown }>("SELECT health FROM agents WHERE status = 'enrolled' AND last_seen_at >= ?", [since]);
      const byRule = await this.database.query<{ rule: string; status: string; n: number | string }>('SELECT rule, status, COUNT(*) AS n FROM violations GROUP BY rule, status');
      enrolled.reset();
      for (const row of agents) enrolled.set({ status: row.status }, Number(row.n));
      heard.set(recent.length);
      let total = 0;
      let max = 0;
      let lost = 0;
      for (const row of recent) {
        const health = parseHealth(row.health);
        total += health.spoolEvents;
        max = Math.max(max, health.spoolEvents);
        lost += health.droppedEvents;
      }
      spoolEvents.set(total);
      spoolMax.set(max);
      dropped.set(lost);
      violations.reset();
      for (const row of byRule) violations.set({ rule: row.rule, status: row.status }, Number(row.n));
      readSeconds.set(Number(process.hrtime.bigint() - started) / 1e9);
    };
  }

  private readonly readDatabase: () => Promise<void>;

  /** The text exposition of every metric. */
  async render(): Promise<{ contentType: string; body: string }> {
    // prom-client serializes metrics concurrently, so the database gauges are read first, in one go.
    await this.readDatabase();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function parseHealth(raw: unknown): { spoolEvents: number; droppedEvents: number } {
  let health: unknown = raw;
  if (typeof raw === 'string') {
    try {
      health = JSON.parse(raw);
    } catch {
      health = null;
    }
  }
  const record = (health ?? {}) as { spoolEvents?: unknown; droppedEvents?: unknown };
  const count = (value: unknown) => (Number.isFinite(Number(value)) ? Number(value) : 0);
  return { spoolEvents: count(record.spoolEvents), droppedEvents: count(record.droppedEvents) };
}
