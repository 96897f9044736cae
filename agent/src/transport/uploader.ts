import * as grpc from '@grpc/grpc-js';
import type { TelemetryServiceClient } from '../generated/mamori/v1/telemetry';
import type { Logger } from '../logging/logger';
import type { Outbox } from '../outbox/outbox';
import type { ConnectionMonitor } from '../state/status-file';
import { Backoff, sleep } from './backoff';
import { callUnary, isServiceError, statusName } from './grpc-clients';

export const INVALID_EVENT_INDEX_KEY = 'mamori-invalid-event-index';

export interface UploaderOptions {
  outbox: Outbox;
  telemetry: TelemetryServiceClient;
  monitor: ConnectionMonitor;
  logger: Logger;
  backoff?: Backoff;
  /** Wait after the collector refused this agent (UNAUTHENTICATED): it will not change soon. */
  refusedDelayMs?: number;
  callTimeoutMs?: number;
  /**
   * How long an idle uploader waits before looking at an empty spool again when nobody calls
   * `notify`. Every append in the agent calls `notify`, so this is only a safety net (default 60 s).
   */
  idlePollMs?: number;
  /**
   * After a batch left the spool (acked or rejected) and the spool then looked empty, how soon it
   * is looked at once more: freeing room lets the outbox commit the drop report it owes on its
   * own, with no append and so no `notify` (default 250 ms).
   */
  afterDeliveryPollMs?: number;
}

export const DEFAULT_IDLE_POLL_MS = 60_000;
export const DEFAULT_AFTER_DELIVERY_POLL_MS = 250;

/**
 * Moves the outbox to the collector: reads the oldest batch, calls UploadEvents, and acks the
 * batch only after the collector acknowledged it. While the collector is unreachable it backs
 * off exponentially with full jitter (the sources keep filling the spool meanwhile). An
 * INVALID_ARGUMENT naming an event (trailing metadata mamori-invalid-event-index) moves that
 * event to rejected/ and resends the rest; UNAUTHENTICATED means the agent was refused
 * (revoked?) and waits long. RESOURCE_EXHAUSTED means the batch is larger than the collector
 * accepts: the next try sends half as many events (down to one), and a single event that is
 * still refused is moved to rejected/ with the collector's message, so it cannot block the
 * spool. Batches grow back after successes. Never throws; `run` returns when `signal` aborts.
 */
export class Uploader {
  uploadedEvents = 0;
  rejectedEvents = 0;
  private readonly backoff: Backoff;
  private wake: (() => void) | null = null;
  /** Counts `notify` calls, so that one arriving while the spool is being read is not lost. */
  private notifications = 0;
  /** Most events the next batch may carry after the collector refused a larger one; undefined: the outbox's own limits. */
  private batchLimit: number | undefined;

  constructor(private readonly options: UploaderOptions) {
    this.backoff = options.backoff ?? new Backoff(250, 30_000);
  }

  /** Tells the uploader that events arrived: an idle one wakes at once, a busy one reads again before idling. */
  notify(): void {
    this.notifications += 1;
    this.wake?.();
  }

  /**
   * Waits for `notify`, the abort, or `waitMs`. Returns at once when `notify` was called since
   * `seen` was taken (an append committed while the empty spool was being read).
   */
  private idle(signal: AbortSignal, seen: number, waitMs: number): Promise<void> {
    if (this.notifications !== seen || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    const { outbox, telemetry, monitor, logger } = this.options;
    /** Events acked or rejected when the uploader last went idle: more since then means room was freed (see afterDeliveryPollMs). */
    let movedAtIdle = 0;
    while (!signal.aborted) {
      const seen = this.notifications;
      let batch;
      try {
        batch = await outbox.readBatch({ maxEvents: this.batchLimit });
      } catch (error) {
        logger.error('cannot read the outbox', { error: error as Error });
        await sleep(this.backoff.next(), signal);
        continue;
      }
      if (batch === null) {
        const moved = this.uploadedEvents + this.rejectedEvents;
        const waitMs = moved !== movedAtIdle ? (this.options.afterDeliveryPollMs ?? DEFAULT_AFTER_DELIVERY_POLL_MS) : (this.options.idlePollMs ?? DEFAULT_IDLE_POLL_MS);
        movedAtIdle = moved;
        await this.idle(signal, seen, waitMs);
        continue;
      }
      try {
        const response = await callUnary(telemetry.uploadEvents.bind(telemetry), { batchId: batch.batchId, events: [...batch.events] }, this.options.callTimeoutMs ?? 30_000);
        await outbox.ack(batch);
        this.uploadedEvents += batch.events.length;
        monitor.contact();
        this.backoff.reset();
        // Grow back towards full batches: the refusal may have been one unusually large event.
        if (this.batchLimit !== undefined) this.batchLimit = batch.events.length < this.batchLimit ? undefined : this.batchLimit * 2;
        logger.debug('batch uploaded', {
          batchId: batch.batchId,
          events: batch.events.length,
          stored: response.storedCount,
          duplicates: response.duplicateCount,
        });
      } catch (error) {
        await this.handleFailure(error, batch, signal);
      }
    }
  }

  private async handleFailure(error: unknown, batch: NonNullable<Awaited<ReturnType<Outbox['readBatch']>>>, signal: AbortSignal): Promise<void> {
    const { outbox, monitor, logger } = this.options;
    if (!isServiceError(error)) {
      // A local failure (disk) while acking or rejecting: the batch stays and is retried.
      logger.error('outbox update failed after an upload attempt', { error: error as Error, batchId: batch.batchId });
      await sleep(this.backoff.next(), signal);
      return;
    }
    const code = error.code;
    const message = `UploadEvents failed (${statusName(code)}): ${error.details}`;
    if (code === grpc.status.INVALID_ARGUMENT) {
      monitor.contact();
      const raw = error.metadata?.get(INVALID_EVENT_INDEX_KEY)?.[0];
      const index = raw === undefined ? NaN : Number(raw.toString());
      if (Number.isInteger(index) && index >= 0 && index < batch.events.length) {
        const file = await outbox.reject(batch, index, error.details).catch((e: Error) => {
          logger.error('could not move the rejected event aside', { error: e });
          return null;
        });
        if (file !== null) {
          this.rejectedEvents += 1;
          logger.error('COLLECTOR REJECTED AN EVENT: moved to rejected/, resending the rest of the batch', {
            eventId: batch.events[index].eventId,
            sequence: batch.events[index].sequence,
            reason: error.details,
            savedAs: file,
          });
          return;
        }
      } else {
        logger.error('collector refused the batch as invalid without naming an event; retrying later', { batchId: batch.batchId, reason: error.details });
      }
      await sleep(this.backoff.next(), signal);
      return;
    }
    if (code === grpc.status.RESOURCE_EXHAUSTED) {
      monitor.contact();
      if (batch.events.length > 1) {
        this.batchLimit = Math.max(1, Math.floor(batch.events.length / 2));
        logger.warn('collector refused the batch as too large; sending smaller batches', {
          batchId: batch.batchId,
          events: batch.events.length,
          nextEvents: this.batchLimit,
          reason: error.details,
        });
        // No wait: every refusal halves the batch, so this ends after log2(batch size) tries.
        return;
      }
      const file = await outbox.reject(batch, 0, error.details).catch((e: Error) => {
        logger.error('could not move the oversized event aside', { error: e });
        return null;
      });
      if (file !== null) {
        this.rejectedEvents += 1;
        logger.error('COLLECTOR REFUSED AN EVENT AS TOO LARGE: moved to rejected/, continuing with the next events', {
          eventId: batch.events[0].eventId,
          sequence: batch.events[0].sequence,
          reason: error.details,
          savedAs: file,
        });
        return;
      }
      await sleep(this.backoff.next(), signal);
      return;
    }
    if (code === grpc.status.UNAUTHENTICATED || code === grpc.status.PERMISSION_DENIED) {
      monitor.failure(message, true);
      const delay = (this.options.refusedDelayMs ?? 300_000) / 2 + this.backoff.next() / 2;
      logger.error('the collector refused this agent (revoked or unknown certificate?); events stay in the spool', {
        reason: error.details,
        retryInMs: Math.round(delay),
      });
      await sleep(delay, signal);
      return;
    }
    monitor.failure(message, false);
    const delay = this.backoff.next();
    logger.warn('upload failed; backing off', { code: statusName(code), reason: error.details, attempt: this.backoff.attempts, retryInMs: delay });
    await sleep(delay, signal);
  }
}
