// The container's HEALTHCHECK: exit 0 when GET /healthz on the collector's own REST port answers
// 200 (the database answers too), 1 otherwise. No curl in the slim image, so Node does it.
const address = process.env.MAMORI_HTTP_ADDRESS || '127.0.0.1:8080';
const port = address.slice(address.lastIndexOf(':') + 1);
try {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) });
  if (response.ok) process.exit(0);
  console.error(`healthz answered ${response.status}: ${await response.text()}`);
} catch (error) {
  console.error(`healthz did not answer: ${error.message}`);
}
process.exit(1);
