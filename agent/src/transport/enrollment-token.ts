/** An enrollment token `<tokenId>.<secret>.<caPin>` as the collector prints it. */
export interface EnrollmentToken {
  tokenId: string;
  secret: string;
  /** base64url (no padding) SHA-256 of the collector CA's DER. */
  caPin: string;
}

export class TokenFormatError extends Error {}

const PART = /^[A-Za-z0-9_-]+$/;

/** Parses and sanity-checks a token; throws TokenFormatError saying what is wrong (never echoing the secret). */
export function parseEnrollmentToken(token: string): EnrollmentToken {
  const trimmed = token.trim();
  const parts = trimmed.split('.');
  if (parts.length !== 3) {
    throw new TokenFormatError(`the enrollment token must have three dot-separated parts <id>.<secret>.<caPin>, got ${parts.length}`);
  }
  const [tokenId, secret, caPin] = parts;
  for (const [name, value] of [['id', tokenId], ['secret', secret], ['CA pin', caPin]] as const) {
    if (value.length === 0) throw new TokenFormatError(`the enrollment token's ${name} part is empty`);
    if (!PART.test(value)) throw new TokenFormatError(`the enrollment token's ${name} part has characters outside base64url`);
  }
  const pinBytes = Buffer.from(caPin, 'base64url');
  if (pinBytes.length !== 32 || caPin.replace(/=+$/, '').length !== 43) {
    throw new TokenFormatError(`the enrollment token's CA pin must be a base64url SHA-256 (43 characters), got ${caPin.length} characters`);
  }
  return { tokenId, secret, caPin };
}

/** HOST:PORT as given on the command line; IPv6 hosts in brackets ("[::1]:50051"). */
export interface ServerAddress {
  host: string;
  port: number;
  /** The form grpc-js and agent.json use. */
  target: string;
}

export function parseServerAddress(value: string): ServerAddress {
  const trimmed = value.trim();
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(trimmed) ?? /^([^:[\]]+):(\d+)$/.exec(trimmed);
  if (match === null) throw new TokenFormatError(`--server must be HOST:PORT (IPv6 as [ADDR]:PORT), got "${value}"`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new TokenFormatError(`--server port must be 1..65535, got ${port}`);
  const host = match[1];
  return { host, port, target: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` };
}
