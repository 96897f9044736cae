/** The two databases the collector supports. */
export type DatabaseKind = 'sqlite' | 'postgres';
