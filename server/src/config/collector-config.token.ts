/** Nest injection token for the resolved CollectorConfig. */
export const COLLECTOR_CONFIG = Symbol('COLLECTOR_CONFIG');
