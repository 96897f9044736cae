import type { IncomingMessage, ServerResponse } from 'node:http';
import { MetricsService } from './metrics.service';

type RoutedRequest = IncomingMessage & { method?: string; baseUrl?: string; route?: { path?: unknown } };

/**
 * Express middleware that times every REST request until its response is finished and labels it
 * with the route pattern Express matched (`/api/v1/agents/:id`, never the concrete id, so the
 * number of series stays bounded) and the status sent. Requests no route matched are labelled
 * `unmatched`. Event streams are left out: they last as long as the client stays.
 */
export function httpMetricsMiddleware(metrics: MetricsService) {
  return (request: RoutedRequest, response: ServerResponse, next: () => void): void => {
    const started = process.hrtime.bigint();
    response.on('finish', () => {
      if (String(response.getHeader('content-type') ?? '').startsWith('text/event-stream')) return;
      const pattern = request.route?.path;
      const route = typeof pattern === 'string' ? `${request.baseUrl ?? ''}${pattern}` : 'unmatched';
      metrics.httpRequests.observe({ method: request.method ?? 'GET', route, status: String(response.statusCode) }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}
