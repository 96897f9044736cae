/** What the glibc/musl stub resolver reads from resolv.conf(5), as far as the agent needs it. */
export interface ResolvConf {
  /** `nameserver` addresses in file order (an IPv6 link-local one may carry "%iface"). */
  nameservers: string[];
  /** The value of the last `domain` line, or null. */
  domain: string | null;
  /** The domains of the last `search` line ("." alone, meaning none, is left out). */
  search: string[];
  /** The tokens of every `options` line, in order. */
  options: string[];
}

/**
 * Parses resolv.conf(5) text the way glibc reads it: a keyword starts its line and is followed by
 * a space or tab; a line whose first character is "#" or ";" is a comment; `nameserver` takes its
 * first word; a later `search` line replaces an earlier one, and so does a later `domain` line;
 * unknown keywords are ignored. Never throws. Pure.
 */
export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], domain: null, search: [], options: [] };
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('#') || line.startsWith(';')) continue;
    const match = /^(nameserver|domain|search|options)[ \t]+(.*)$/.exec(line);
    if (match === null) continue;
    const words = match[2].split(/[ \t]+/).filter((word) => word !== '');
    if (words.length === 0) continue;
    switch (match[1]) {
      case 'nameserver':
        conf.nameservers.push(words[0]);
        break;
      case 'domain':
        conf.domain = words[0];
        break;
      case 'search':
        conf.search = words.filter((word) => word !== '.');
        break;
      case 'options':
        conf.options.push(...words);
        break;
    }
  }
  return conf;
}

/**
 * The host's DNS suffixes according to resolv.conf: the search domains, then the local domain when
 * it is not among them; lower-cased, trailing dot dropped, duplicates and the root left out. Both
 * lines count although glibc lets the later one win for lookups: each says which network the host
 * was configured for, which is what zone detection asks. Pure.
 */
export function dnsSuffixesOf(conf: ResolvConf): string[] {
  const suffixes: string[] = [];
  for (const raw of [...conf.search, ...(conf.domain === null ? [] : [conf.domain])]) {
    const suffix = raw.toLowerCase().replace(/\.$/, '');
    if (suffix !== '' && !suffixes.includes(suffix)) suffixes.push(suffix);
  }
  return suffixes;
}
