/**
 * Bounds of a new enrollment token, shared by REST and the CLI so both refuse the same values
 * with a message naming their own field, before the database (whose INTEGER column would
 * overflow) sees them.
 */
export const MAX_TOKEN_USES = 1_000_000;
/** One year. */
export const MAX_TOKEN_LIFETIME_SECONDS = 31_536_000;
