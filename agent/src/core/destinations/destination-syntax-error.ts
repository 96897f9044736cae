/**
 * A whitelist entry, host name, address or zone that cannot be used, with the field it came from
 * (the generated message's camelCase field name, or `host` / `ip` / `cidr` for a bare value) so that
 * the collector can point a REST caller at the field and the agent can log which entry it skipped.
 */
export class DestinationSyntaxError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'DestinationSyntaxError';
  }
}
