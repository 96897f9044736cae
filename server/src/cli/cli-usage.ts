export const USAGE = `mamori-server: the mamori collector (REST + gRPC)

Usage:
  mamori-server [run]                 start the collector (REST and gRPC in one process)
  mamori-server migrate               apply pending database migrations and exit
  mamori-server tokens create [--label L] [--uses N] [--expires-in 24h|7d|90m] [--zone ZONE] [--json]
                                      create an enrollment token (printed once); --uses 1 to
                                      1000000 (default: unlimited until expiry), --expires-in
                                      30s to 365d (default 24h), --zone: a defined network zone
                                      every agent it enrolls is required in (an install naming
                                      another zone is refused)
  mamori-server tokens list [--json]  list enrollment tokens (no secrets)
  mamori-server tokens revoke <id>    revoke an enrollment token
  mamori-server agents list [--json]  list enrolled agents
  mamori-server agents revoke <id>    revoke an agent; its next call fails (within 5 s)
  mamori-server release add ARCHIVE [--json]
                                      store an agent bundle (mamori-agent-<version>-<platform>-
                                      <arch>.tar.gz, checked) in the database for upgrades; set
                                      the fleet's target with PUT /api/v1/agent-releases/target
  mamori-server release list [--json] list stored agent bundles and the target version
  mamori-server ca status [--json]    the collector's certificate authorities and how far the
                                      enrolled agents are in a CA rotation
  mamori-server ca rotate [--json]    start rotating the generated CA: create the next CA
                                      (ca-next.crt); after a restart agents are handed it
  mamori-server ca switch [--force] [--json]
                                      sign with the next CA from the next restart on, keeping
                                      the old one trusted; refused while an agent does not
                                      trust the next CA (--force leaves such agents behind)
  mamori-server ca retire [--force] [--json]
                                      stop trusting the previous CA from the next restart on;
                                      refused while an agent's certificate comes from it
  mamori-server admin-token reset     replace the stored administrator API token and print the
                                      new one once (a running collector switches within 5 s);
                                      refused while MAMORI_ADMIN_TOKEN is set, which always wins
  mamori-server audit verify [--anchor SEQ:HASH] [--json]
                                      check the audit log's hash chain from its first record;
                                      prints the newest record's hash (keep it elsewhere), or
                                      exits 1 naming the first broken record; --anchor: that
                                      record must still have that hash
  mamori-server user add USERNAME --role ROLE [--role ROLE...] [--display-name NAME] [--password-stdin]
                                      add a console user (this is how the first administrator
                                      is made); roles: admin, security, approver, it, auditor;
                                      without --password-stdin a password is generated and
                                      printed once
  mamori-server user list [--json]    list users and their roles
  mamori-server user roles USERNAME --role ROLE [--role ROLE...]
                                      replace a user's roles
  mamori-server user password USERNAME [--password-stdin]
                                      set a new password (generated and printed once without
                                      --password-stdin); ends the user's sessions
  mamori-server user disable USERNAME  disable a user (sessions end, API tokens refused)
  mamori-server user enable USERNAME   enable a user again
  mamori-server --help                show this help

Configuration comes from MAMORI_* environment variables, or a JSON file named by
MAMORI_CONFIG (the environment wins): MAMORI_DATA_DIR, MAMORI_DATABASE_URL,
MAMORI_GRPC_ADDRESS, MAMORI_HTTP_ADDRESS, MAMORI_ADMIN_TOKEN, MAMORI_SERVER_NAMES,
MAMORI_TLS_CERT_FILE, MAMORI_TLS_KEY_FILE, MAMORI_TLS_CA_FILE, MAMORI_TLS_CA_KEY_FILE,
MAMORI_TLS_CA_TRUST_FILE, MAMORI_GRPC_MAX_MESSAGE_BYTES, MAMORI_HEARTBEAT_SECONDS,
MAMORI_AGENT_CERT_DAYS,
MAMORI_AGENT_SILENT_AFTER_SECONDS, MAMORI_LEDGER_SWEEP_SECONDS,
MAMORI_SESSION_IDLE_MINUTES (default 480), MAMORI_SESSION_MAX_HOURS (default 12), MAMORI_CONSOLE_DIR,
MAMORI_LOG_LEVEL (the README's Configuration table says what each does).

Exit codes: 0 success, 1 failure, 2 bad usage or configuration.
`;

/** A command line that cannot be run; the message names the offending word. */
export class UsageError extends Error {
  override name = 'UsageError';
}
